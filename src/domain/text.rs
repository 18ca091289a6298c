//! Free text from users: checked once on the way in, folded for search.
//!
//! Stored text is trimmed, in Unicode NFC (so "Chè" typed on any keyboard is the
//! same string), bounded in length, and free of characters that are not what
//! they look like: control and format characters (bidirectional overrides such as
//! U+202E turn `Cơ sở \u{202E}gnp.exe` into what reads as "Cơ sở exe.png",
//! zero-width ones hide inside a name), private-use and unassigned code points,
//! non-characters (U+FFFF) and line or paragraph separators. Search text is
//! folded: lower case, no diacritics, `đ` as `d`, punctuation as spaces, so that
//! `che tan cuong` finds "Chè Tân Cương".

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use super::Invalid;

/// Longest name, commune or authority, in characters.
pub const SHORT: usize = 200;
/// Longest free-form text (findings, notes, descriptions), in characters.
pub const LONG: usize = 10_000;

/// A single-line text: no control characters at all.
pub fn line(input: &str, max_chars: usize) -> Result<String, Invalid> {
    checked(input, max_chars, false)
}

/// A multi-line text: line breaks and tabs allowed, other control characters not.
pub fn paragraph(input: &str, max_chars: usize) -> Result<String, Invalid> {
    checked(input, max_chars, true)
}

fn checked(input: &str, max_chars: usize, multi_line: bool) -> Result<String, Invalid> {
    // Count before normalising so that a huge input costs no more than a scan.
    if input.chars().count() > max_chars * 2 {
        return Err(too_long(max_chars));
    }
    let normalized: String = input.trim().nfc().collect();
    if normalized.is_empty() {
        return Err(Invalid::new("must not be empty"));
    }
    if normalized.chars().count() > max_chars {
        return Err(too_long(max_chars));
    }
    let normalized = normalized.replace("\r\n", "\n");
    let allowed = |c: char| multi_line && (c == '\n' || c == '\t');
    if let Some((bad, what)) = normalized
        .chars()
        .filter(|c| !allowed(*c))
        .find_map(|c| unseen(c).map(|what| (c, what)))
    {
        return Err(Invalid::new(format!(
            "contains U+{:04X}, {what}, which text may not hold",
            u32::from(bad)
        )));
    }
    Ok(normalized)
}

/// What `c` is, if it is a character that does not show as what it is.
fn unseen(c: char) -> Option<&'static str> {
    match c.general_category() {
        GeneralCategory::Control => Some("a control character"),
        GeneralCategory::Format => Some("an invisible formatting character"),
        GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
            Some("a line or paragraph separator")
        }
        GeneralCategory::PrivateUse => Some("a private-use character"),
        GeneralCategory::Surrogate | GeneralCategory::Unassigned => {
            Some("not an assigned character")
        }
        _ => None,
    }
}

fn too_long(max_chars: usize) -> Invalid {
    Invalid::new(format!("is longer than {max_chars} characters"))
}

/// Folds text for search: lower case, diacritics removed, `đ` → `d`, every run of
/// non-alphanumeric characters a single space, no leading or trailing space.
pub fn fold(input: &str) -> String {
    let mut folded = String::with_capacity(input.len());
    let mut pending_space = false;
    for c in input.to_lowercase().nfd() {
        if is_combining_mark(c) {
            continue;
        }
        let c = match c {
            'đ' | 'Đ' => 'd',
            _ => c,
        };
        if c.is_alphanumeric() {
            if pending_space && !folded.is_empty() {
                folded.push(' ');
            }
            pending_space = false;
            folded.push(c);
        } else {
            pending_space = true;
        }
    }
    folded
}

/// The folded words of a search query, each of which a match must contain.
pub fn search_terms(query: &str) -> Vec<String> {
    fold(query)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A short, printable preview of an input for an error message.
pub fn preview(input: &str) -> String {
    let mut shown: String = input
        .chars()
        .take(40)
        .filter(|c| unseen(*c).is_none())
        .collect();
    if input.chars().count() > 40 {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn folding_ignores_case_and_vietnamese_diacritics() {
        assert_eq!(fold("Chè Tân Cương"), "che tan cuong");
        assert_eq!(fold("Nhút Thanh Chương"), "nhut thanh chuong");
        assert_eq!(fold("ĐẶC SẢN Đồng Hỷ"), "dac san dong hy");
        assert_eq!(fold("  cam   Vinh, loại 1! "), "cam vinh loai 1");
    }

    #[test]
    fn decomposed_and_composed_input_fold_alike() {
        let composed = "Cương";
        let decomposed: String = composed.nfd().collect();
        assert_ne!(composed, decomposed);
        assert_eq!(fold(composed), fold(&decomposed));
        assert_eq!(line(&decomposed, SHORT).unwrap(), composed);
    }

    #[test]
    fn lines_refuse_control_characters_empty_and_overlong_text() {
        assert!(line("Hợp tác xã\u{0}", SHORT).is_err());
        assert!(line("a\nb", SHORT).is_err());
        assert_eq!(paragraph("a\nb", SHORT).unwrap(), "a\nb");
        assert!(paragraph("a\u{7}b", SHORT).is_err());
        assert!(line("   ", SHORT).is_err());
        assert!(line(&"x".repeat(SHORT + 1), SHORT).is_err());
        assert_eq!(
            line(&"ư".repeat(SHORT), SHORT).unwrap().chars().count(),
            SHORT
        );
    }

    #[test]
    fn text_that_does_not_show_what_it_holds_is_refused() {
        for bad in [
            "Cơ sở \u{202E}gnp.exe",
            "\u{2066}Chè\u{2069}",
            "Chè\u{200B}Tân",
            "Cam\u{FEFF}",
            "Cam\u{FFFF}",
            "Cam\u{FDD0}",
            "Cam\u{E000}",
            "Cam\u{2028}Vinh",
            "Cam\u{AD}Vinh",
        ] {
            let error = line(bad, SHORT).unwrap_err().0;
            assert!(error.contains("U+"), "{bad:?}: {error}");
            assert!(paragraph(bad, LONG).is_err(), "{bad:?}");
            assert!(unseen(preview(bad).chars().last().unwrap()).is_none());
        }
        assert!(!preview("a\u{202E}b").contains('\u{202E}'));
        let error = line("Cơ sở \u{202E}gnp.exe", SHORT).unwrap_err().0;
        assert!(error.contains("U+202E"), "{error}");
        // Vietnamese, in either normal form, and line breaks where allowed.
        assert_eq!(
            line("Chè Tân Cương – loại 1", SHORT).unwrap(),
            "Chè Tân Cương – loại 1"
        );
        assert_eq!(
            paragraph("Đạt.\r\n\tGhi chú", LONG).unwrap(),
            "Đạt.\n\tGhi chú"
        );
    }

    #[test]
    fn search_terms_are_folded_words() {
        assert_eq!(search_terms("CHÈ  tân-cương"), ["che", "tan", "cuong"]);
        assert!(search_terms(" %_ ").is_empty());
    }

    proptest! {
        #[test]
        fn folded_vietnamese_is_plain_lower_case_and_idempotent(
            s in "[a-zA-Z0-9 ,.!%_àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵĐƯƠÂÊÔĂ-]{0,60}"
        ) {
            let once = fold(&s);
            prop_assert!(once.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == ' '));
            prop_assert!(!once.starts_with(' ') && !once.ends_with(' '));
            prop_assert_eq!(fold(&once), once.clone());
        }

        #[test]
        fn folding_never_panics(s in "\\PC{0,60}") {
            let _ = fold(&s);
        }

        #[test]
        fn accepted_text_holds_only_what_shows(s in "\\PC{0,40}|.{0,80}|[\u{0}-\u{3000}\u{FDD0}-\u{FFFF}]{0,20}") {
            if let Ok(ok) = line(&s, SHORT) {
                prop_assert!(ok.chars().all(|c| unseen(c).is_none()));
                prop_assert!(!ok.is_empty());
            }
            if let Ok(ok) = paragraph(&s, LONG) {
                prop_assert!(ok.chars().all(|c| c == '\n' || c == '\t' || unseen(c).is_none()));
            }
        }
    }
}
