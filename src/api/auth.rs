//! The admin token that guards the destructive route.

use axum::http::{HeaderMap, StatusCode, header};
use subtle::ConstantTimeEq;

use super::ApiError;

/// Checks the request's `Authorization: Bearer <token>` against the
/// configured token; `None` means retention over HTTP is disabled.
///
/// 401 when the request carries no bearer token (the client should
/// authenticate), 403 when it carries a wrong one or the route is disabled
/// (authenticating cannot help).
pub(crate) fn check_admin(configured: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty());
    let Some(presented) = presented else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this route needs the admin token: send `Authorization: Bearer <token>`",
        ));
    };
    let Some(configured) = configured else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "deleting runs over HTTP is disabled: start the server with --admin-token \
             (or WORKFLOW_HISTORY_ADMIN_TOKEN) to enable it",
        ));
    };
    if !bool::from(presented.as_bytes().ct_eq(configured.as_bytes())) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the bearer token is not the admin token",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn statuses() {
        let status = |configured, headers: &HeaderMap| {
            check_admin(configured, headers).map_err(|e| e.status)
        };
        assert_eq!(status(Some("s3cret"), &with_auth("Bearer s3cret")), Ok(()));
        assert_eq!(status(Some("s3cret"), &with_auth("bearer s3cret")), Ok(()));
        assert_eq!(
            status(Some("s3cret"), &HeaderMap::new()),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            status(Some("s3cret"), &with_auth("Basic czNjcmV0")),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            status(Some("s3cret"), &with_auth("Bearer s3cre")),
            Err(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            status(None, &with_auth("Bearer s3cret")),
            Err(StatusCode::FORBIDDEN)
        );
        // No token at all: authenticate first, whether or not it is enabled.
        assert_eq!(
            status(None, &HeaderMap::new()),
            Err(StatusCode::UNAUTHORIZED)
        );
    }
}
