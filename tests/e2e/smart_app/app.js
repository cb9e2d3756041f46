// A SMART standalone-launch app on fhirclient (node adapter), for tests/e2e/test_smart_launch.py.
//
//   node app.js <port> <issuer> <client_id> <scope>
//
// GET /launch  -> fhirclient reads <issuer>/.well-known/smart-configuration and
//                 redirects to the provider's authorization endpoint (PKCE required)
// GET /app     -> fhirclient exchanges the code at the token endpoint and the app
//                 answers what it learnt: {patient, scope, id_token_claims, refresh_token}
// Prints "listening" once the port is bound. State lives in this process's memory.
"use strict";

const http = require("http");
const smart = require("fhirclient/lib/entry/node");

const [port, issuer, clientId, scope] = process.argv.slice(2);
const redirectUri = `http://127.0.0.1:${port}/app`;
const memory = new Map();
const storage = {
  get: async (key) => memory.get(key),
  set: async (key, value) => { memory.set(key, value); return value; },
  unset: async (key) => memory.delete(key),
};

function reply(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

http.createServer(async (req, res) => {
  try {
    const path = new URL(req.url, redirectUri).pathname;
    if (path === "/launch") {
      await smart(req, res, storage).authorize({
        iss: issuer, clientId, scope, redirectUri, pkceMode: "required",
      });
    } else if (path === "/app") {
      const client = await smart(req, res, storage).ready();
      reply(res, 200, {
        patient: client.patient.id,
        scope: client.state.tokenResponse.scope,
        id_token_claims: client.getIdToken(),
        refresh_token: Boolean(client.state.tokenResponse.refresh_token),
        server_url: client.state.serverUrl,
      });
    } else {
      reply(res, 404, { error: "not_found" });
    }
  } catch (error) {
    reply(res, 500, { error: String(error && error.message || error) });
  }
}).listen(Number(port), "127.0.0.1", () => console.log("listening"));
