// <support-access tenant="acme" token="…">: the tenant's support access in a tenant app's own page.
// No dependencies. It calls the gateway's management API on the same origin (the app is served
// through the gateway) with the bearer token the host page gives it, shows whether support is
// active and until when, and offers Enable support / Disable support. Everything it renders is
// built with DOM calls (no innerHTML of data); its styles live in its shadow root.
(function () {
  "use strict";

  var css =
    ":host{display:inline-block;font:inherit;color:inherit}" +
    ".box{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem;padding:.35rem .6rem;border:1px solid #d7dce3;border-radius:.5rem;background:#fff}" +
    ".dot{width:.6rem;height:.6rem;border-radius:50%;background:#8a94a3}" +
    ".on .dot{background:#2f7d4f}" +
    "button,a{font:inherit;font-weight:600;padding:.25rem .7rem;border-radius:.4rem;border:1px solid #1f4e8c;background:#1f4e8c;color:#fff;cursor:pointer;text-decoration:none}" +
    "button[disabled]{opacity:.6;cursor:progress}" +
    ".error{color:#9b2c2c}";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function SupportAccessElement() {
    return Reflect.construct(HTMLElement, [], SupportAccessElement);
  }

  SupportAccessElement.prototype = Object.create(HTMLElement.prototype);
  SupportAccessElement.prototype.constructor = SupportAccessElement;
  Object.setPrototypeOf(SupportAccessElement, HTMLElement);
  SupportAccessElement.observedAttributes = ["tenant", "token"];

  SupportAccessElement.prototype.connectedCallback = function () {
    if (!this.shadowRoot) {
      var root = this.attachShadow({ mode: "open" });
      if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function") {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(css); // a constructed sheet: no inline <style> for the host page's CSP to refuse
        root.adoptedStyleSheets = [sheet];
      }
    }
    this.load();
  };

  SupportAccessElement.prototype.attributeChangedCallback = function () {
    if (this.shadowRoot) {
      this.load();
    }
  };

  SupportAccessElement.prototype.call = function (method, path, body) {
    var tenant = encodeURIComponent(this.getAttribute("tenant") || "");
    var headers = { Accept: "application/json", Authorization: "Bearer " + (this.getAttribute("token") || "") };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    return fetch("/_gateway/tenants/" + tenant + "/support" + path, {
      method: method,
      headers: headers,
      credentials: "omit",
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!response.ok) {
          var error = new Error((data && (data.detail || data.title)) || "HTTP " + response.status);
          error.code = data && data.code;
          throw error;
        }
        return data;
      });
    });
  };

  SupportAccessElement.prototype.load = function () {
    var self = this;
    if (!this.getAttribute("token")) {
      this.render(null, null);
      return Promise.resolve();
    }
    return this.call("GET", "/status")
      .then(function (status) { self.render(status, null); })
      .catch(function (error) { self.render(null, error.message); });
  };

  SupportAccessElement.prototype.act = function (work) {
    var self = this;
    this.shadowRoot.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    return work()
      .then(function () { return self.load(); })
      .catch(function (error) { self.render(self.status, error.message); });
  };

  SupportAccessElement.prototype.enable = function () {
    var self = this;
    return this.act(function () { return self.call("POST", "/grants", {}); });
  };

  // Revokes the active grants this token may revoke (its own; every grant for a tenant admin).
  SupportAccessElement.prototype.disable = function () {
    var self = this;
    var ids = (this.status && this.status.grantIds) || [];
    return this.act(function () {
      return Promise.all(ids.map(function (id) {
        return self.call("DELETE", "/grants/" + encodeURIComponent(id)).catch(function (error) {
          if (error.code !== "grant.not_owner" && error.code !== "grant.not_active") {
            throw error;
          }
        });
      }));
    });
  };

  SupportAccessElement.prototype.render = function (status, error) {
    var self = this;
    this.status = status;
    var root = this.shadowRoot;
    var box = el("div", { class: "box", part: "box", role: "group", "aria-label": "Support access" });
    box.appendChild(el("span", { class: "dot", "aria-hidden": "true" }));
    if (!this.getAttribute("token")) {
      box.appendChild(el("span", {}, "Support access"));
      box.appendChild(el("a", { href: "/_gateway/ui/" }, "Manage"));
    } else if (status) {
      var active = status.active === true;
      box.classList.toggle("on", active);
      var until = active && status.until ? " until " + new Date(status.until).toLocaleString() : "";
      box.appendChild(el("span", { "data-state": active ? "active" : "inactive" }, active ? "Support access active" + until : "Support access off"));
      var button = el("button", { type: "button" }, active ? "Disable support" : "Enable support");
      button.addEventListener("click", function () { return active ? self.disable() : self.enable(); });
      box.appendChild(button);
    }
    if (error) {
      box.appendChild(el("span", { class: "error", role: "alert" }, error));
    }
    root.replaceChildren(box);
  };

  if (!customElements.get("support-access")) {
    customElements.define("support-access", SupportAccessElement);
  }
})();
