//! The memory allocator: mimalloc (v3) for every binary built on this crate —
//! the gateway, the benchmark's gateways, the tests.
//!
//! A gateway's work is many short-lived allocations: each GraphQL field boxes a
//! future of up to 1.3 KB, each answer builds a tree of values. glibc's malloc
//! serves blocks over 1 KB outside its per-thread cache, consolidating its
//! free lists as it goes; under a sync it was a quarter of the partner's CPU.
//! Counted by callgrind on the partner (the same requests, instructions of the
//! whole process): 300 lookups by number 232.6 → 206.6 million, five `nodes`
//! pages of 1000 certificates 770.6 → 657.8 million.
//!
//! Left to its defaults, mimalloc keeps freed memory for a second or more
//! before giving it back, on transparent huge pages where the system offers
//! them: a gateway's peak RSS under 50 concurrent 100-item pages rose from 51
//! to 81 MiB. Without huge pages (the crate's `no_thp`) and with freed memory
//! returned at once ([`configure`]), it stays where glibc's was (51–55 MiB).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc v3's `mi_option_purge_delay` (its `include/mimalloc.h`), in
/// milliseconds. libmimalloc-sys names only v2's options, whose numbers differ.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets the allocator to return freed memory to the system at once. Call it
/// first in `main`, before any other thread starts: mimalloc's options are not
/// safe to set while others allocate.
pub fn configure() {
    // SAFETY: an option number of the linked mimalloc (see `PURGE_DELAY`,
    // checked by a test), set before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_mimalloc_v3_numbers_so() {
        // v3 delays purges by 1000 ms unless told otherwise, and no other v3
        // option defaults to 1000: a renumbered option would read differently.
        // (Nothing in the test binary calls `configure`.)
        let delay = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(
            delay, 1000,
            "option {PURGE_DELAY} is not mimalloc v3's purge delay"
        );
    }
}
