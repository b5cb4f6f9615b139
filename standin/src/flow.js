// The stand-in's flow interface: custom elements with open shadow roots, shaped like authentik's
// Lit components. <ak-flow-executor> calls the flow executor API and renders one stage element
// in its shadow root; each stage renders its form in its own shadow root. The stage element is
// created anew for every challenge, as authentik re-renders between stages.
(() => {
  "use strict";
  const slug = document.documentElement.dataset.flow;
  const api = `/api/v3/flows/executor/${slug}/?query=${encodeURIComponent(location.search.slice(1))}`;
  const csrf = () => {
    const pair = document.cookie.split("; ").find((c) => c.startsWith("authentik_csrf="));
    return pair ? pair.slice("authentik_csrf=".length) : "";
  };
  const esc = (s) =>
    String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const errorsOf = (challenge, field) => (challenge.response_errors || {})[field] || [];
  const errorText = (challenge, field) =>
    errorsOf(challenge, field).map((e) => `<p class="pf-c-form__helper-text pf-m-error" aria-live="polite">${esc(e.string)}</p>`).join("");
  const invalid = (challenge, field) => (errorsOf(challenge, field).length ? ' aria-invalid="true"' : "");
  const header = (challenge) =>
    `<header class="pf-c-login__main-header"><h1 class="pf-c-title pf-m-3xl">${esc(challenge.flow_info?.title)}</h1></header>`;
  const submitButton = (label, name) =>
    `<div class="pf-c-form__group pf-m-action"><button type="submit"${name ? ` name="${name}"` : ""} class="pf-c-button pf-m-primary pf-m-block">${esc(label)}</button></div>`;

  // The hidden form authentik adds to the document for password managers: a trap for scripts
  // that search the document instead of the shadow roots.
  const decoy = () => {
    if (document.getElementById("ak-password-manager")) return;
    const form = document.createElement("form");
    form.id = "ak-password-manager";
    form.setAttribute("aria-hidden", "true");
    form.style.display = "none";
    form.innerHTML =
      '<input name="username" autocomplete="username"><input name="password" type="password" autocomplete="current-password"><input name="code" autocomplete="one-time-code">';
    document.body.appendChild(form);
  };

  // WebAuthn request options as authentik sends them, for the browser; an assertion as
  // authentik's `transformAssertionForServer` posts it (padded fields, no user handle).
  const fromB64 = (text) => Uint8Array.from(atob(text.replace(/_/g, "/").replace(/-/g, "+")), (c) => c.charCodeAt(0));
  const toB64 = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_");
  const publicKey = (options) => ({
    ...options,
    challenge: fromB64(options.challenge),
    allowCredentials: (options.allowCredentials || []).map((d) => ({ ...d, id: fromB64(d.id) })),
  });
  const forServer = (assertion) => {
    const r = assertion.response;
    return {
      id: assertion.id,
      rawId: toB64(assertion.rawId).replace(/=/g, ""),
      type: assertion.type,
      assertionClientExtensions: JSON.stringify(assertion.getClientExtensionResults()),
      response: {
        clientDataJSON: toB64(r.clientDataJSON),
        signature: toB64(r.signature),
        authenticatorData: toB64(r.authenticatorData),
        userHandle: null,
      },
    };
  };

  class Executor extends HTMLElement {
    connectedCallback() {
      if (this.shadowRoot) return;
      this.attachShadow({ mode: "open" });
      this.shadowRoot.innerHTML =
        '<div class="pf-c-login"><div class="ak-login-container"><main class="pf-c-login__main" role="main"><div class="ak-stage-host"></div></main></div></div>';
      this.call("GET").then((c) => this.render(c));
    }
    submit(body) {
      this.call("POST", body).then((c) => this.render(c));
    }
    async call(method, body) {
      const headers = { Accept: "application/json" };
      if (body) {
        headers["Content-Type"] = "application/json";
        headers["X-authentik-CSRF"] = csrf();
      }
      try {
        const response = await fetch(api, { method, headers, credentials: "same-origin", body: body ? JSON.stringify(body) : undefined });
        if (!response.ok) return { component: "ak-stage-flow-error", error: `HTTP ${response.status}` };
        return await response.json();
      } catch (e) {
        return { component: "ak-stage-flow-error", error: String(e) };
      }
    }
    render(challenge) {
      if (challenge.component === "xak-flow-redirect") {
        window.location.assign(challenge.to);
        return;
      }
      const tag = customElements.get(challenge.component) ? challenge.component : "ak-stage-flow-error";
      const stage = document.createElement(tag);
      stage.challenge = challenge;
      stage.executor = this;
      this.shadowRoot.querySelector(".ak-stage-host").replaceChildren(stage);
    }
  }

  class Stage extends HTMLElement {
    connectedCallback() {
      if (this.shadowRoot) return;
      this.attachShadow({ mode: "open" });
      this.shadowRoot.innerHTML = this.html(this.challenge);
      const form = this.shadowRoot.querySelector("form");
      if (form) {
        form.addEventListener("submit", (event) => {
          event.preventDefault();
          this.executor.submit({ component: this.challenge.component, ...this.response(form) });
        });
      }
      const first = this.shadowRoot.querySelector("input:not([type=hidden])");
      if (first) first.focus();
    }
    response() {
      return {};
    }
  }

  // As authentik's: the field's label names the stage's `user_fields`; with a passkey challenge
  // the field offers passkeys (`autocomplete="username webauthn"`) and the page asks the browser
  // for one by conditional mediation as soon as it shows, posting what the browser gives; the
  // request is aborted when the stage goes.
  class Identification extends Stage {
    connectedCallback() {
      decoy();
      super.connectedCallback();
      this.conditional();
    }
    disconnectedCallback() {
      if (this.abort) this.abort.abort();
    }
    html(c) {
      const pre = c.application_pre ? `<p>Login to continue to ${esc(c.application_pre)}.</p>` : "";
      const names = { email: "Email", username: "Username" };
      const label = (c.user_fields || []).slice().sort().map((f) => names[f] || f).join(" or ");
      const autocomplete = c.passkey_challenge ? "username webauthn" : "username";
      const type = (c.user_fields || []).join() === "email" ? "email" : "text";
      return `${header(c)}<div class="pf-c-login__main-body"><form class="pf-c-form">${pre}
<div class="pf-c-form__group"><label class="pf-c-form__label" for="ak-identifier-input"><span class="pf-c-form__label-text">${esc(label)}</span></label>
<input type="${type}" name="uidField" id="ak-identifier-input" placeholder="${esc(label)}" autocomplete="${autocomplete}" spellcheck="false" class="pf-c-form-control" required${invalid(c, "uid_field")}>
${errorText(c, "uid_field")}${errorText(c, "non_field_errors")}</div>${submitButton(c.primary_action)}</form></div>`;
    }
    response(form) {
      return { uid_field: form.querySelector("input[name=uidField]").value };
    }
    async conditional() {
      const options = this.challenge.passkey_challenge;
      const available = window.PublicKeyCredential && PublicKeyCredential.isConditionalMediationAvailable;
      if (!options || !available || !(await PublicKeyCredential.isConditionalMediationAvailable())) return;
      this.abort = new AbortController();
      let assertion;
      try {
        assertion = await navigator.credentials.get({ publicKey: publicKey(options), mediation: "conditional", signal: this.abort.signal });
      } catch (e) {
        return;
      }
      if (assertion) this.executor.submit({ component: this.challenge.component, passkey: forServer(assertion) });
    }
  }

  class Password extends Stage {
    html(c) {
      return `${header(c)}<div class="pf-c-login__main-body"><form class="pf-c-form">
<div class="pf-c-form__group"><p class="ak-pending-user">${esc(c.pending_user)}</p>
<input type="hidden" name="username" autocomplete="username" value="${esc(c.pending_user)}"></div>
<div class="pf-c-form__group"><label class="pf-c-form__label" for="ak-stage-password-input"><span class="pf-c-form__label-text">Password</span></label>
<input type="password" name="password" id="ak-stage-password-input" placeholder="Please enter your password" autocomplete="current-password" class="pf-c-form-control" required${invalid(c, "password")}>
${errorText(c, "password")}</div>${submitButton("Continue", "continue")}</form></div>`;
    }
    response(form) {
      return { password: form.querySelector("input[name=password]").value };
    }
  }

  // As in authentik 2026.2, the code form is not in the stage's own shadow root: the stage renders
  // <ak-stage-authenticator-validate-code>, which has a shadow root of its own.
  const same = (a, b) => a && b && a.device_class === b.device_class && a.device_uid === b.device_uid;
  class AuthenticatorValidate extends Stage {
    connectedCallback() {
      // As authentik's interface: the device chosen stays chosen across challenges while
      // offered; else a single device is chosen by itself, or the last used one that is not a
      // static device; else the person picks one. authentik is told the choice (its answer does
      // not advance the flow).
      const devices = this.challenge.device_challenges || [];
      if (!devices.some((d) => same(d, this.executor.device))) this.executor.device = null;
      if (!this.executor.device) {
        const used = devices
          .filter((d) => d.last_used && d.device_class !== "static")
          .sort((a, b) => new Date(b.last_used) - new Date(a.last_used));
        const chosen = devices.length === 1 ? devices[0] : used[0];
        if (chosen) this.choose(chosen);
      }
      super.connectedCallback();
      this.wire();
    }
    // The picker's buttons choose a device and show it.
    wire() {
      const devices = this.challenge.device_challenges || [];
      this.shadowRoot.querySelectorAll(".authenticator-button").forEach((button, i) =>
        button.addEventListener("click", () => {
          this.choose(devices[i]);
          this.shadowRoot.innerHTML = this.html(this.challenge);
        }),
      );
    }
    // "Select another authentication method": back to the picker.
    unchoose() {
      this.executor.device = null;
      this.shadowRoot.innerHTML = this.html(this.challenge);
      this.wire();
    }
    choose(device) {
      this.executor.device = device;
      this.executor.call("POST", { component: this.challenge.component, selected_challenge: device });
    }
    html(c) {
      const device = this.executor.device;
      if (!device) {
        const labels = { totp: "Traditional authenticator", static: "Recovery keys", webauthn: "Security key" };
        const buttons = (c.device_challenges || [])
          .map((d, i) => `<button id="device-challenge-${i}" class="pf-c-button authenticator-button" type="button"><h1 class="pf-c-title pf-m-sm">${esc(labels[d.device_class] || d.device_class)}</h1></button>`)
          .join("");
        return `${header(c)}<div class="pf-c-login__main-body"><form class="pf-c-form"><fieldset class="pf-c-form__group pf-m-action" name="device-challenges"><legend class="pf-c-title">Select an authentication method</legend>${buttons}</fieldset></form></div>`;
      }
      const form = device.device_class === "webauthn" ? "webauthn" : "code";
      return `${header(c)}<div class="pf-c-login__main-body"><ak-stage-authenticator-validate-${form}></ak-stage-authenticator-validate-${form}></div>`;
    }
  }

  // With several devices, a device's form leads back to the picker, as authentik's does.
  const backButton = (stage) =>
    (stage.challenge.device_challenges || []).length > 1
      ? '<button class="pf-c-button pf-m-secondary pf-m-block" type="button">Select another authentication method</button>'
      : "";
  const wireBack = (element, stage) => {
    const back = element.shadowRoot.querySelector("button.pf-m-secondary");
    if (back) back.addEventListener("click", () => stage.unchoose());
  };

  class AuthenticatorValidateCode extends HTMLElement {
    connectedCallback() {
      if (this.shadowRoot) return;
      const stage = this.getRootNode().host;
      const c = stage.challenge;
      this.deviceChallenge = stage.executor.device;
      // As authentik's: a static device's codes are letters and digits, a TOTP code digits.
      const recovery = stage.executor.device.device_class === "static" && !document.documentElement.dataset.digitsOnly;
      const [label, mode, pattern] = recovery ? ["Static token", "text", "[0-9a-zA-Z]*"] : ["Authentication code", "numeric", "[0-9]*"];
      this.attachShadow({ mode: "open" });
      this.shadowRoot.innerHTML = `<form class="pf-c-form">
<p class="ak-pending-user">${esc(c.pending_user)}</p>
<input type="hidden" name="username" autocomplete="username" value="${esc(c.pending_user)}">
<fieldset class="pf-c-form__group"><legend class="sr-only">Authentication code</legend>
<label class="pf-c-form__label" for="validation-code-input"><span class="pf-c-form__label-text">${label}</span></label>
<input id="validation-code-input" type="text" name="code" inputmode="${mode}" pattern="${pattern}" placeholder="Type an authentication code" autocomplete="one-time-code" class="pf-c-form-control pf-m-monospace" required${invalid(c, "code")}>
${errorText(c, "code")}</fieldset>${submitButton("Continue")}${backButton(stage)}</form>`;
      wireBack(this, stage);
      const form = this.shadowRoot.querySelector("form");
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        stage.executor.submit({ component: c.component, code: form.querySelector("input[name=code]").value });
      });
      form.querySelector("input[name=code]").focus();
    }
  }

  // As authentik's: asks the browser for an assertion as soon as it shows (and again for every
  // new challenge, as each renders anew), posts it, and after a failed attempt shows why and a
  // "Retry authentication" button; none while an attempt is under way.
  class AuthenticatorValidateWebAuthn extends HTMLElement {
    connectedCallback() {
      if (this.shadowRoot) return;
      this.stage = this.getRootNode().host;
      this.deviceChallenge = this.stage.executor.device;
      this.attachShadow({ mode: "open" });
      this.attempt();
    }
    show(message, retry) {
      const c = this.stage.challenge;
      const button = retry
        ? '<fieldset class="pf-c-form__group pf-m-action"><button class="pf-c-button pf-m-primary pf-m-block" type="button">Retry authentication</button></fieldset>'
        : "";
      this.shadowRoot.innerHTML = `<form class="pf-c-form"><p class="ak-pending-user">${esc(c.pending_user)}</p>
<div class="pf-c-empty-state"><span>${esc(message)}</span></div>${errorText(c, "webauthn")}${button}${backButton(this.stage)}</form>`;
      const again = this.shadowRoot.querySelector("button.pf-m-primary");
      if (again) again.addEventListener("click", () => this.attempt());
      wireBack(this, this.stage);
    }
    async attempt() {
      const c = this.stage.challenge;
      const options = this.stage.executor.device.challenge;
      this.show("Authenticating...", false);
      let assertion;
      try {
        assertion = await navigator.credentials.get({ publicKey: publicKey(options) });
      } catch (e) {
        this.show(e && e.name === "NotAllowedError" ? "Authentication was cancelled or timed out" : String(e), true);
        return;
      }
      this.stage.executor.submit({ component: c.component, webauthn: forServer(assertion) });
    }
  }

  class Consent extends Stage {
    html(c) {
      const items = (c.permissions || []).map((p) => `<li data-permission-code="${esc(p.id)}">${esc(p.name)}</li>`).join("");
      return `${header(c)}<div class="pf-c-login__main-body"><form class="pf-c-form">
<p class="ak-pending-user">${esc(c.pending_user)}</p>
<h3 data-test-id="stage-heading">${esc(c.header_text)}</h3>
<p>Application requires following permissions:</p><ul class="pf-c-list" id="permissions">${items}</ul>
${errorText(c, "token")}${submitButton("Continue")}</form></div>`;
    }
    response() {
      return { token: this.challenge.token };
    }
  }

  class AccessDenied extends Stage {
    html(c) {
      const message = c.error_message ? `<p class="ak-access-denied-message">${esc(c.error_message)}</p>` : "";
      return `${header(c)}<div class="pf-c-login__main-body"><div class="pf-c-form">
<h2 class="pf-c-title" data-test-id="card-title">Request has been denied.</h2>${message}</div></div>`;
    }
  }

  class FlowError extends Stage {
    html(c) {
      return `<div class="pf-c-login__main-body"><h2 class="pf-c-title" data-test-id="card-title">Whoops!</h2>
<p class="ak-flow-error">${esc(c.error || "Something went wrong! Please try again later.")}</p></div>`;
    }
  }

  customElements.define("ak-stage-identification", Identification);
  customElements.define("ak-stage-password", Password);
  customElements.define("ak-stage-authenticator-validate-code", AuthenticatorValidateCode);
  customElements.define("ak-stage-authenticator-validate-webauthn", AuthenticatorValidateWebAuthn);
  customElements.define("ak-stage-authenticator-validate", AuthenticatorValidate);
  customElements.define("ak-stage-consent", Consent);
  customElements.define("ak-stage-access-denied", AccessDenied);
  customElements.define("ak-stage-flow-error", FlowError);
  customElements.define("ak-flow-executor", Executor);
})();
