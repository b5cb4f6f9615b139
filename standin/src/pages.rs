//! authentik's HTML: the flow interface shell (rendered by `flow.js` into open shadow roots)
//! and the plain error pages (Redirect URI Error, Client ID Error, Permission denied, 404).

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use ak_protocol::html::escape;

const STYLE: &str = "body{font-family:RedHatText,Overpass,sans-serif;background:#151515;margin:0}\
.pf-c-login__main{background:#fff;max-width:32rem;margin:4rem auto;padding:2rem}\
.pf-c-form__group{margin:1rem 0}.pf-c-form-control{width:100%;padding:.5rem}\
.pf-c-button{padding:.5rem 1rem}.pf-m-error{color:#c9190b}";

/// A plain authentik page with a card title and a message, shaped as authentik 2026.2 renders
/// `login/base_full.html`: the title inside newlines and indentation, the message in a
/// paragraph, and on *Permission denied* an error icon before it (`policies/denied.html`).
pub(crate) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let icon = if title == "Permission denied" {
        "\n            <i class=\"pf-icon pf-icon-error-circle-o pf-u-font-size-2xl\" role=\"img\" aria-label=\"Error\"></i>\n            "
    } else {
        ""
    };
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"UTF-8\"><title>\n{title} - authentik\n</title>\
<style>{STYLE}</style></head>\n<body><div class=\"pf-c-background-image\"></div>\
<div class=\"pf-c-login stacked\"><div class=\"ak-login-container\"><main class=\"pf-c-login__main\">\n\
    <div class=\"pf-c-login__main-header\">\n        <h1 class=\"pf-c-title pf-m-3xl\" data-test-id=\"card-title\">\n            \n{title}\n\n        </h1>\n    </div>\n\
    <div class=\"pf-c-login__main-body\">\n<div class=\"pf-c-form\">\n    <p>{icon}{message}</p>\n\
    <div class=\"pf-c-form__group\">\n        <a id=\"ak-back-home\" href=\"/\" class=\"pf-c-button pf-m-primary pf-m-block\">\n            Go home\n        </a>\n    </div>\n</div>\n\
    </div>\n</main></div></div></body></html>\n",
        title = escape(title),
        message = escape(message),
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
}

/// How a defect changes the flow interface.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PageDefects {
    /// A layer over all of it (`cover-flow`).
    pub(crate) covered: bool,
    /// The code field takes digits only, a recovery code too (`digits-only-codes`).
    pub(crate) digits_only: bool,
}

/// The flow interface: a document with `<ak-flow-executor>`, rendered by the script, with the
/// `defects` that change it.
pub(crate) fn flow_page(slug: &str, title: &str, defects: PageDefects) -> Response {
    let cover = if defects.covered { COVER } else { "" };
    let digits = if defects.digits_only { " data-digits-only=\"true\"" } else { "" };
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\" data-flow=\"{slug}\"{digits}><head><meta charset=\"UTF-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>\
<style>{STYLE}</style><script src=\"/static/flow.js\" defer></script></head>\n\
<body><div class=\"pf-c-background-image\"></div><ak-flow-executor flowSlug=\"{slug}\"></ak-flow-executor>{cover}</body></html>\n",
        slug = escape(slug),
        title = escape(title),
    );
    (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
}

/// A transparent layer over the whole page, as a brand's custom CSS can make one (`cover-flow`).
const COVER: &str = "<div class=\"ak-brand-custom\" style=\"position:fixed;inset:0;z-index:1000\"></div>";

/// `GET /static/flow.js`.
pub(crate) async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("flow.js")).into_response()
}
