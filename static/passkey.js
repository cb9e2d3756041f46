// Adds a passkey from the account page (templates/account_two_step_passkey.html).
// The server's options (JSON, binary fields base64url-encoded) are in
// <script type="application/json" id="passkey-options">; the form posts the
// PublicKeyCredential as JSON in its "credential" field, with the password.
// No JavaScript or no WebAuthn: the page says so and the form adds nothing.
(function () {
  "use strict";
  var form = document.getElementById("passkey-form");
  var source = document.getElementById("passkey-options");
  if (!form || !source) { return; }
  if (!window.PublicKeyCredential || !navigator.credentials) {
    document.getElementById("passkey-unsupported").hidden = false;
    form.querySelector("button[type=submit]").disabled = true;
    return;
  }

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

  function creationOptions() {
    var options = JSON.parse(source.textContent);
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    (options.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return options;
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
        attestationObject: toText(response.attestationObject),
        transports: response.getTransports ? response.getTransports() : []
      }
    };
  }

  var sent = false;
  form.addEventListener("submit", function (event) {
    if (sent) { return; }
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    navigator.credentials.create({ publicKey: creationOptions() }).then(function (credential) {
      form.elements.credential.value = JSON.stringify(asJSON(credential));
      sent = true;
      form.submit();
    }).catch(function () {
      // Cancelled or refused by the authenticator: post nothing, let the patient retry.
      button.disabled = false;
      document.getElementById("passkey-cancelled").hidden = false;
    });
  });
}());
