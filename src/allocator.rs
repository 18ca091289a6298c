//! The memory allocator: mimalloc (v3), which each binary declares as its
//! global allocator (`src/main.rs`, the benchmark's `main.rs`; a library
//! chooses no allocator for the programs that link it), and, once
//! [`configure`] has run, SQLite's as well.
//!
//! A gateway's work is many short-lived allocations: each GraphQL field boxes a
//! future of up to 1.3 KB, each answer builds a tree of values, each SQLite
//! statement its rows. glibc's malloc serves blocks over 1 KB outside its
//! per-thread cache, consolidating its free lists as it goes. Measured from
//! `/proc` during a sync (50 000 certificates, two runs of each build in
//! turn), with this allocator and the record fields' work boxed apart
//! (`graphql::heavy`), a synced record cost the partner 47–49 µs of user CPU
//! against 55–59 before, the sync client 32 against 39–42, and the sync ran
//! 17 300–17 500 records/s against 14 100–15 000.
//!
//! mimalloc runs without transparent huge pages (the crate's `no_thp`): with
//! them, a gateway's peak RSS under 50 concurrent 100-item pages rose from 51
//! to 81 MiB; without, 59 MiB. It keeps its default delay of a second before
//! giving freed memory back. Giving it back at once held RSS at glibc's but
//! tripled the kernel's share of a sync (the partner 26 µs a record against
//! 6–8, 4.4 page faults a record against 0.2): each page of 1000 records
//! frees megabytes that the next one maps in again.

use libmimalloc_sys as mi;
use libsqlite3_sys as ffi;
use std::ffi::{c_int, c_void};

/// Hands SQLite's allocations to mimalloc and switches its memory statistics
/// off. SQLite calls the C library's `malloc` itself, past Rust's global
/// allocator, and by default counts every allocation under a global mutex for
/// `sqlite3_memory_used`, which nothing here reads. Counted by callgrind on the
/// partner during a sync, glibc's malloc and free were 8.5 % of its
/// instructions and the mutex 2.4 %.
///
/// Call it first in `main`: SQLite takes its allocator only before its first
/// use, and this panics if SQLite has already started.
pub fn configure() {
    let methods = ffi::sqlite3_mem_methods {
        xMalloc: Some(malloc),
        xFree: Some(free),
        xRealloc: Some(realloc),
        xSize: Some(size),
        xRoundup: Some(roundup),
        xInit: Some(init),
        xShutdown: Some(shutdown),
        pAppData: std::ptr::null_mut(),
    };
    // SAFETY: both options take the arguments passed (SQLite copies the
    // methods); before SQLite's first use nothing else reads them.
    let codes = unsafe {
        [
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, std::ptr::from_ref(&methods)),
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int),
        ]
    };
    assert_eq!(
        codes,
        [ffi::SQLITE_OK; 2],
        "SQLite was configured after its first use"
    );
}

// SQLite's memory methods. It asks for sizes above zero and needs 8-byte
// alignment, which every mimalloc block has.

unsafe extern "C" fn malloc(bytes: c_int) -> *mut c_void {
    unsafe { mi::mi_malloc(bytes as usize) }
}

unsafe extern "C" fn free(block: *mut c_void) {
    unsafe { mi::mi_free(block) }
}

unsafe extern "C" fn realloc(block: *mut c_void, bytes: c_int) -> *mut c_void {
    unsafe { mi::mi_realloc(block, bytes as usize) }
}

/// The bytes a block can hold, which SQLite may use beyond what it asked.
unsafe extern "C" fn size(block: *mut c_void) -> c_int {
    unsafe { mi::mi_usable_size(block) as c_int }
}

unsafe extern "C" fn roundup(bytes: c_int) -> c_int {
    (bytes + 7) & !7
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn shutdown(_: *mut c_void) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_holds_what_sqlite_asked_and_keeps_it_when_grown() {
        // SAFETY: each block is used within what `size` says, then freed.
        unsafe {
            let block = malloc(13).cast::<u8>();
            assert!(!block.is_null() && (block as usize).is_multiple_of(8));
            assert!(size(block.cast()) >= 13);
            for i in 0..13 {
                block.add(i).write(i as u8);
            }
            let grown = realloc(block.cast(), 5000).cast::<u8>();
            assert!(size(grown.cast()) >= 5000);
            let kept = std::slice::from_raw_parts(grown, 13);
            assert_eq!(kept, (0..13).collect::<Vec<u8>>().as_slice());
            free(grown.cast());
            assert_eq!((roundup(13), roundup(16)), (16, 16));
        }
    }
}
