// Second factor with a passkey at sign-in (templates/login_second_factor.html): navigator.credentials.get() with the server's options,
// then the form posts the answer (PublicKeyCredential.toJSON()). No inline script (CSP).
(function () {
  "use strict";
  var form = document.getElementById("passkey-form");
  var button = document.getElementById("passkey-button");
  if (!form || !button) {
    return;
  }
  if (!window.PublicKeyCredential || !PublicKeyCredential.parseRequestOptionsFromJSON) {
    button.disabled = true;
    return;
  }
  button.addEventListener("click", function () {
    var options = JSON.parse(form.getAttribute("data-webauthn-options"));
    var publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
    navigator.credentials.get({ publicKey: publicKey }).then(function (credential) {
      form.elements.credential.value = JSON.stringify(credential.toJSON());
      form.submit();
    }).catch(function () {
      button.disabled = false;
    });
  });
}());
