//! Calendar maths: epoch seconds as the texts ids and records use.

/// Seconds since the epoch as `YYYYMMDDTHHMMSSZ`.
pub fn compact_utc(epoch_seconds: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(epoch_seconds);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// Seconds since the epoch as RFC 3339 (`2026-11-25T16:34:44Z`).
pub fn rfc3339(epoch_seconds: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(epoch_seconds);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

fn civil(epoch_seconds: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (epoch_seconds / 86_400) as i64;
    let rem = epoch_seconds % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

pub fn now_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
