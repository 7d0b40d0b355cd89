//! How to stop a service's container: not part of the OCI spec, so app asks here.

use std::time::Duration;

use oci_spec::image::Config as ImageConfig;

use super::error::SpecError;
use crate::model::types::ServiceConfig;

/// Docker's default stop timeout.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// The signal that asks the container to stop, and how long to wait before SIGKILL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopSettings {
    /// As written (`SIGQUIT`, `QUIT`, `3`), for messages.
    pub signal_name: String,
    /// The Linux signal number.
    pub signal: u32,
    pub grace: Duration,
}

const SIGNALS: &[(&str, u32)] = &[
    ("ABRT", 6),
    ("ALRM", 14),
    ("BUS", 7),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("FPE", 8),
    ("HUP", 1),
    ("ILL", 4),
    ("INT", 2),
    ("IO", 29),
    ("IOT", 6),
    ("KILL", 9),
    ("PIPE", 13),
    ("POLL", 29),
    ("PROF", 27),
    ("PWR", 30),
    ("QUIT", 3),
    ("SEGV", 11),
    ("STKFLT", 16),
    ("STOP", 19),
    ("SYS", 31),
    ("TERM", 15),
    ("TRAP", 5),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("USR1", 10),
    ("USR2", 12),
    ("VTALRM", 26),
    ("WINCH", 28),
    ("XCPU", 24),
    ("XFSZ", 25),
];

const SIGRTMIN: u32 = 34;
const SIGRTMAX: u32 = 64;

/// moby/sys `signal.ParseSignal`: a number, or a name with or without `SIG`, any case,
/// including `RTMIN+n` and `RTMAX-n`.
pub fn parse_signal(raw: &str) -> Option<u32> {
    if let Ok(n) = raw.parse::<u32>() {
        return (n != 0).then_some(n);
    }
    let upper = raw.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = SIGNALS.iter().find(|(s, _)| *s == name) {
        return Some(n);
    }
    let rt = |base: u32, rest: &str, plus: bool| -> Option<u32> {
        if rest.is_empty() {
            return Some(base);
        }
        let (sign, num) = rest.split_at(1);
        let n: u32 = num.parse().ok()?;
        let v = match (sign, plus) {
            ("+", true) => base.checked_add(n)?,
            ("-", false) => base.checked_sub(n)?,
            _ => return None,
        };
        (SIGRTMIN..=SIGRTMAX).contains(&v).then_some(v)
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt(SIGRTMIN, rest, true);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt(SIGRTMAX, rest, false);
    }
    None
}

/// `stop_signal`, else the image's `StopSignal`, else SIGTERM; `stop_grace_period`, else 10 s.
pub fn stop_settings(
    service: &ServiceConfig,
    image: Option<&ImageConfig>,
) -> Result<StopSettings, SpecError> {
    let name = if !service.stop_signal.is_empty() {
        service.stop_signal.clone()
    } else {
        image
            .and_then(|c| c.stop_signal().clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "SIGTERM".to_string())
    };
    let signal = parse_signal(&name).ok_or_else(|| SpecError::Option {
        service: service.name.clone(),
        option: format!("stop_signal {name:?}"),
        message: format!("Invalid signal: {name}"),
    })?;
    let grace = match service.stop_grace_period {
        Some(d) if d.0 > 0 => Duration::from_nanos(d.0 as u64),
        Some(_) => Duration::ZERO,
        None => DEFAULT_STOP_GRACE,
    };
    Ok(StopSettings {
        signal_name: name,
        signal,
        grace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::ConfigBuilder;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("SIGTERM"), Some(15));
        assert_eq!(parse_signal("quit"), Some(3));
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("SIGRTMIN+3"), Some(37));
        assert_eq!(parse_signal("RTMAX-1"), Some(63));
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("SIGNOPE"), None);
        assert_eq!(parse_signal("RTMIN+40"), None);
    }

    #[test]
    fn precedence_and_defaults() {
        let img = ConfigBuilder::default()
            .stop_signal("SIGQUIT".to_string())
            .build()
            .unwrap();
        let mut s = ServiceConfig::default();
        let d = stop_settings(&s, None).unwrap();
        assert_eq!((d.signal, d.grace), (15, DEFAULT_STOP_GRACE));
        assert_eq!(stop_settings(&s, Some(&img)).unwrap().signal, 3);
        s.stop_signal = "SIGUSR1".into();
        s.stop_grace_period = Some(crate::model::types::Duration(1_500_000_000));
        let d = stop_settings(&s, Some(&img)).unwrap();
        assert_eq!((d.signal, d.grace), (10, Duration::from_millis(1500)));
        s.stop_signal = "SIGWHAT".into();
        assert!(stop_settings(&s, None)
            .unwrap_err()
            .to_string()
            .contains("Invalid signal: SIGWHAT"));
    }
}
