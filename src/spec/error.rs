//! Errors of the service → spec translation. Each names the service and the option at fault.

use std::fmt;

/// Why a service could not be translated, or why a spec is invalid.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A service option has a value berth (like Docker) refuses, or a fact it needs is missing.
    #[error("service {service:?}: {option}: {message}")]
    Option {
        service: String,
        /// The option and, where useful, its value: `user "nobody2"`.
        option: String,
        message: String,
    },
    /// An `oci_spec` builder refused a value.
    #[error("service {service:?}: building the OCI spec: {source}")]
    Builder {
        service: String,
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// [`crate::spec::validate`] found problems, listed in order.
    #[error("invalid OCI spec: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// An error inside the translation, before the service name is attached.
#[derive(Debug)]
pub(crate) enum Fail {
    Option { option: String, message: String },
    Builder(oci_spec::OciSpecError),
}

impl Fail {
    pub(crate) fn new(option: impl fmt::Display, message: impl Into<String>) -> Self {
        Fail::Option {
            option: option.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn for_service(self, service: &str) -> SpecError {
        match self {
            Fail::Option { option, message } => SpecError::Option {
                service: service.to_string(),
                option,
                message,
            },
            Fail::Builder(source) => SpecError::Builder {
                service: service.to_string(),
                source,
            },
        }
    }
}

impl From<oci_spec::OciSpecError> for Fail {
    fn from(e: oci_spec::OciSpecError) -> Self {
        Fail::Builder(e)
    }
}

pub(crate) type Result<T> = std::result::Result<T, Fail>;
