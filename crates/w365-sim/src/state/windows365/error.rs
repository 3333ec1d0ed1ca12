//! Errors of the Windows 365 model. No HTTP types: the HTTP layer maps them with [`Windows365Error::status`]
//! and [`Windows365Error::code`].

/// Why a Windows 365 operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Windows365Error {
    /// The addressed object does not exist (404).
    #[error("{kind} '{id}' was not found")]
    NotFound { kind: &'static str, id: String },
    /// The request body or a parameter is invalid (400).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// The operation does not fit the object's current state (400).
    #[error("{message}")]
    InvalidState { message: String },
    /// Another operation is already running on the object (409).
    #[error("{message}")]
    Conflict { message: String },
}

impl Windows365Error {
    pub(crate) fn not_found(kind: &'static str, id: &str) -> Self {
        Self::NotFound {
            kind,
            id: id.to_owned(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid {
            code: "BadRequest",
            message: message.into(),
        }
    }

    /// A parameter validation failure (Graph answers `parameterValidationFailed` for a bad naming
    /// template — observed, single source; see reference §6.3).
    pub(crate) fn parameter(message: impl Into<String>) -> Self {
        Self::Invalid {
            code: "parameterValidationFailed",
            message: message.into(),
        }
    }

    pub(crate) fn invalid_state(message: impl Into<String>) -> Self {
        Self::InvalidState {
            message: message.into(),
        }
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
        }
    }

    /// The HTTP status Graph answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound { .. } => 404,
            Self::Invalid { .. } | Self::InvalidState { .. } => 400,
            Self::Conflict { .. } => 409,
        }
    }

    /// The Graph error code (`error.code`). The Cloud PC API's codes are not documented; these are the
    /// generic Graph codes (unverified for this workload).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "ResourceNotFound",
            Self::Invalid { code, .. } => code,
            Self::InvalidState { .. } => "BadRequest",
            Self::Conflict { .. } => "Conflict",
        }
    }
}

/// Result of a Windows 365 operation.
pub type Result<T, E = Windows365Error> = std::result::Result<T, E>;
