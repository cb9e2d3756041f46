// Sign-in with a passkey alone on the login page (templates/login.html): a discoverable
// credential, no user ID typed. Two ways in, one ceremony at a time:
// - the "Sign in with a passkey" button asks the browser for any passkey of this site;
// - conditional UI: where the browser supports it, a request with mediation
//   "conditional" waits in the background and the browser offers the passkeys in the
//   user ID field's autofill (autocomplete="username webauthn").
// Every ceremony first asks the server for options (a new flow and challenge), then
// posts the answer in a form built here. No JavaScript or no WebAuthn: the section
// stays hidden and the password form is the way in. No inline script (CSP).
(function () {
  "use strict";
  var box = document.getElementById("passkey-signin");
  var login = document.getElementById("login-form");
  if (!box || !login || !window.PublicKeyCredential || !navigator.credentials) { return; }
  var button = document.getElementById("passkey-signin-button");
  var cancelled = document.getElementById("passkey-signin-cancelled");
  var running = null; // the AbortController of the ceremony under way

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    json.challenge = toBytes(json.challenge);
    (json.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return json;
  }

  function asJSON(credential) {
    if (typeof credential.toJSON === "function") { return credential.toJSON(); }
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {
        clientDataJSON: toText(response.clientDataJSON),
        authenticatorData: toText(response.authenticatorData),
        signature: toText(response.signature),
        userHandle: response.userHandle ? toText(response.userHandle) : null
      }
    };
  }

  function field(form, name, value) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }

  function interaction() {
    return login.elements.i ? login.elements.i.value : "";
  }

  function startFlow() {
    var body = new URLSearchParams();
    if (interaction()) { body.set("i", interaction()); }
    if (login.elements.remember && login.elements.remember.checked) { body.set("remember", "yes"); }
    return fetch(box.getAttribute("data-options-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": login.elements.csrf_token.value },
      body: body
    }).then(function (response) {
      if (!response.ok) { throw new Error("options " + response.status); }
      return response.json();
    });
  }

  function post(flow, credential) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = box.getAttribute("data-action");
    form.hidden = true;
    field(form, "csrf_token", login.elements.csrf_token.value);
    field(form, "flow", flow);
    field(form, "credential", JSON.stringify(asJSON(credential)));
    if (interaction()) { field(form, "i", interaction()); }
    document.body.appendChild(form);
    form.submit();
  }

  // One ceremony at a time: a new one aborts the one waiting (conditional UI).
  function ceremony(mediation) {
    if (running) { running.abort(); }
    var controller = new AbortController();
    running = controller;
    return startFlow().then(function (started) {
      var request = { publicKey: requestOptions(started.options), signal: controller.signal };
      if (mediation) { request.mediation = mediation; }
      return navigator.credentials.get(request).then(function (credential) {
        if (!credential) { throw new Error("no credential"); }
        post(started.flow, credential);
      });
    });
  }

  function waitInAutofill() {
    if (!PublicKeyCredential.isConditionalMediationAvailable) { return; }
    PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
      if (available) {
        ceremony("conditional").catch(function () { /* aborted, or nothing chosen */ });
      }
    });
  }

  box.hidden = false;
  button.addEventListener("click", function () {
    button.disabled = true;
    cancelled.hidden = true;
    ceremony(null).catch(function () {
      // Cancelled or refused by the authenticator: nothing posted; try again or type.
      button.disabled = false;
      cancelled.hidden = false;
      waitInAutofill();
    });
  });
  waitInAutofill();
}());
