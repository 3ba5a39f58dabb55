// Mailroom's GraphiQL page. Every query needs an API token: the one pasted in the bar above
// GraphiQL is kept in this browser's localStorage and sent as `Authorization: Bearer <token>`
// with each request GraphiQL makes (a header set in GraphiQL's own headers editor wins).
"use strict";

(function () {
  const STORAGE_KEY = "mailroom:api-token";
  // The page is served at the API's own URL: queries go where it came from.
  const ENDPOINT = window.location.pathname;
  const DEFAULT_QUERY = `# Mailroom's GraphQL API
#
# 1. Paste your API token above and press
#    "Use token". No token yet? This makes one:
#      mailroom token create SLUG EMAIL
#    (SLUG: your workspace, EMAIL: a member).
# 2. Run this query: the \u25B6 button, or
#    Ctrl-Enter.
#
# Docs, on the left, lists every field.

{
  me {
    email
  }
}
`;

  const form = document.getElementById("mailroom-token-form");
  const input = document.getElementById("mailroom-token");
  const forget = document.getElementById("mailroom-token-forget");
  const status = document.getElementById("mailroom-token-status");

  // Kept in memory as well, for a browser whose storage is off.
  let token = readToken();
  let generation = 0;

  function readToken() {
    try {
      return window.localStorage.getItem(STORAGE_KEY) || "";
    } catch (error) {
      return "";
    }
  }

  function keepToken(value) {
    token = value;
    try {
      if (value) {
        window.localStorage.setItem(STORAGE_KEY, value);
      } else {
        window.localStorage.removeItem(STORAGE_KEY);
      }
    } catch (error) {
      // Storage is off: the token lasts as long as the page.
    }
  }

  function fetchWithToken(url, init) {
    const headers = new Headers((init && init.headers) || {});
    if (token && !headers.has("Authorization")) {
      headers.set("Authorization", "Bearer " + token);
    }
    return window.fetch(url, Object.assign({}, init, { headers: headers }));
  }

  function show(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  // Who the token is, or why it is refused: said at once rather than at the first query.
  async function check(candidate) {
    let response;
    try {
      response = await window.fetch(ENDPOINT, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Authorization: "Bearer " + candidate,
        },
        body: JSON.stringify({ query: "{ me { email } workspace { slug } }" }),
      });
    } catch (error) {
      return { state: "unknown", text: "Mailroom did not answer (" + error.message + ")." };
    }
    const body = await response.json().catch(() => ({}));
    if (response.status === 401) {
      return { state: "refused", text: "This token was refused: " + firstError(body) };
    }
    if (!response.ok || !body.data) {
      return { state: "unknown", text: "The token could not be checked: " + firstError(body) };
    }
    const me = body.data.me.email;
    const workspace = body.data.workspace.slug;
    return { state: "ok", text: "Queries run as " + me + " in workspace " + workspace + "." };
  }

  function firstError(body) {
    const errors = (body && body.errors) || [];
    return errors.length ? errors[0].message : "no reason given";
  }

  async function useToken(candidate) {
    show("checking", "Checking the token…");
    const result = await check(candidate);
    if (result.state === "refused") {
      keepToken("");
    } else {
      keepToken(candidate);
    }
    show(result.state, result.text);
    render();
  }

  const fetcher = GraphiQL.createFetcher({ url: ENDPOINT, fetch: fetchWithToken });
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));

  function render() {
    generation += 1;
    root.render(
      React.createElement(GraphiQL, {
        // A new token makes a new GraphiQL, which reads the schema with it; without a token
        // the schema cannot be read, so it does not try. The editors' text is kept.
        key: generation,
        fetcher: fetcher,
        schema: token ? undefined : null,
        defaultQuery: DEFAULT_QUERY,
        isHeadersEditorEnabled: true,
        shouldPersistHeaders: false,
      }),
    );
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const candidate = input.value.trim();
    if (candidate) {
      useToken(candidate);
    } else {
      show("missing", "Paste a token first: mailroom token create SLUG EMAIL makes one.");
    }
  });

  forget.addEventListener("click", () => {
    keepToken("");
    input.value = "";
    show("missing", "Token forgotten. Queries are refused until you paste one.");
    render();
  });

  if (token) {
    input.value = token;
    useToken(token);
  } else {
    show("missing", "No token yet: queries are refused until you paste one.");
    render();
  }
})();
