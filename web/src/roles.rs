//! Who may call what. Every route behind the login is declared through
//! [`Routes`] with the least [`Role`] it needs, so the router and the table
//! of rules ([`route_rules`]) are one list and no route can be added
//! without a decision. Viewers read (pages, API reads, logs); ops also
//! change runs, tasks and DAGs (trigger, pause, backfill, clear, mark);
//! admins also see connections and variables. The check is on the server;
//! the pages only hide what the role cannot use. An API token acts with its
//! user's role; the open UI (no user, loopback only) acts as an admin.

use axum::Router;
use axum::extract::Request;
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
pub use updraft_engine::store::Role;

use crate::auth::User;
use crate::{AppState, WebError};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (the login page, static files).
    Public,
    /// A signed-in user (or the open UI) with at least this role.
    Needs(Role),
}

/// One route of the router and who may call it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    pub method: Method,
    /// The full path pattern, as axum matches it (`/dags/{dag_id}`).
    pub path: String,
    pub access: Access,
}

/// A router whose routes each name the role they need.
pub(crate) struct Routes {
    prefix: &'static str,
    router: Router<AppState>,
    rules: Vec<RouteRule>,
}

impl Routes {
    /// Routes that will be nested under `prefix` (`""` at the root).
    pub(crate) fn new(prefix: &'static str) -> Self {
        Routes {
            prefix,
            router: Router::new(),
            rules: Vec::new(),
        }
    }

    pub(crate) fn get<H: Handler<T, AppState>, T: 'static>(self, path: &str, need: Role, handler: H) -> Self {
        self.add(Method::GET, path, need, get(handler))
    }

    pub(crate) fn post<H: Handler<T, AppState>, T: 'static>(self, path: &str, need: Role, handler: H) -> Self {
        self.add(Method::POST, path, need, post(handler))
    }

    fn add(mut self, method: Method, path: &str, need: Role, route: MethodRouter<AppState>) -> Self {
        self.rules.push(RouteRule {
            method,
            path: format!("{}{path}", self.prefix),
            access: Access::Needs(need),
        });
        let route = route.route_layer(axum::middleware::from_fn(move |req: Request, next: Next| {
            authorize(need, req, next)
        }));
        self.router = self.router.route(path, route);
        self
    }

    /// Adds another set's routes (built with the prefix it is nested at).
    pub(crate) fn nest(mut self, other: Routes) -> Self {
        self.router = self.router.nest(other.prefix, other.router);
        self.rules.extend(other.rules);
        self
    }

    pub(crate) fn fallback<H: Handler<T, AppState>, T: 'static>(mut self, handler: H) -> Self {
        self.router = self.router.fallback(handler);
        self
    }

    pub(crate) fn into_parts(self) -> (Router<AppState>, Vec<RouteRule>) {
        (self.router, self.rules)
    }
}

/// Runs behind the login guard, which has put the [`User`] in.
async fn authorize(need: Role, req: Request, next: Next) -> Response {
    match req.extensions().get::<User>() {
        Some(user) if user.role >= need => next.run(req).await,
        Some(user) => forbidden(need, user).into_response(),
        None => WebError::Unauthorized.into_response(),
    }
}

fn forbidden(need: Role, user: &User) -> WebError {
    let what = match need {
        Role::Viewer => "reading",
        Role::Op => "changing runs, tasks and DAGs",
        Role::Admin => "connections and variables",
    };
    let least = if need == Role::Admin {
        "the admin role".to_string()
    } else {
        format!("the {need} role or higher")
    };
    WebError::Forbidden(format!(
        "{what} needs {least}; {} has the {} role (an admin can change it with `updraft users set-role`)",
        user.name, user.role
    ))
}

/// Every route of [`crate::router`] with who may call it, for tests and
/// documentation.
pub fn route_rules() -> Vec<RouteRule> {
    crate::routes().2
}
