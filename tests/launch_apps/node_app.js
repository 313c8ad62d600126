// A small Node app (http module only), scanned through `firebrick scan --launch`.
//   GET /proxy?url=       vulnerable: http.get on any URL, body reflected
//   GET /health           liveness
//   GET /proxy-safe?url=  hardened twin: resolve once, refuse non-public answers, connect to
//                         the checked address (lookup pinned), port 80 only, no redirects
// Listens on $PORT (0 = any free port: firebrick detects it).
const http = require("http");
const dns = require("dns");
const net = require("net");

const SPEC = {
  openapi: "3.0.3",
  info: { title: "launch test: node", version: "1" },
  paths: Object.fromEntries(["/proxy", "/proxy-safe"].map((p) => [p, { get: {
    operationId: p.slice(1).replace("-", "_"),
    parameters: [{ name: "url", in: "query", required: true,
                   schema: { type: "string", format: "uri" } }],
    responses: { 200: { description: "the fetched body" } } } }])
    .concat([["/health", { get: { operationId: "health",
      responses: { 200: { description: "liveness" } } } }]])),
};

function internal(address) {
  if (net.isIPv6(address)) {
    const a = address.toLowerCase();
    const mapped = a.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/);
    if (mapped) return internal(mapped[1]);
    return a === "::" || a === "::1" || a.startsWith("fc") || a.startsWith("fd") ||
      a.startsWith("fe80") || a.startsWith("::ffff:");
  }
  const [a, b] = address.split(".").map(Number);
  return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b < 128) ||
    a >= 224;
}

function fetch(url, options, res) {
  const req = http.get(url, options, (up) => {
    const chunks = [];
    up.on("data", (c) => chunks.push(c));
    up.on("end", () => {
      res.writeHead(up.statusCode < 400 ? 200 : 502, { "content-type": "text/plain" });
      res.end(Buffer.concat(chunks));
    });
  });
  req.setTimeout(3000, () => req.destroy(new Error("timeout")));
  req.on("error", () => { res.writeHead(502); res.end("fetch failed"); });
}

function refuse(res) { res.writeHead(400, { "content-type": "application/json" }); res.end('{"error":"url not allowed"}'); }

http.createServer((req, res) => {
  const u = new URL(req.url, "http://app.local");
  if (u.pathname === "/openapi.json") {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify(SPEC));
  }
  if (u.pathname === "/health") {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end('{"status":"ok"}');
  }
  if (u.pathname !== "/proxy" && u.pathname !== "/proxy-safe") {
    res.writeHead(404, { "content-type": "text/plain" });
    return res.end("not found");
  }
  let target;
  try { target = new URL(u.searchParams.get("url") || ""); } catch (e) { return refuse(res); }
  if (u.pathname === "/proxy") {
    try { return fetch(target, {}, res); } catch (e) { return refuse(res); }
  }
  if (u.pathname === "/proxy-safe") {
    if (target.protocol !== "http:" || (target.port && target.port !== "80") || target.username) return refuse(res);
    const host = target.hostname.replace(/^\[|\]$/g, "");
    return dns.lookup(host, { all: true }, (err, addresses) => {
      if (err || !addresses.length) { res.writeHead(502); return res.end("fetch failed"); }
      if (addresses.some((a) => internal(a.address))) return refuse(res);
      const pinned = addresses[0];
      // Connect to the address that was checked: never resolve the name again.
      const lookup = (_h, opts, cb) => opts && opts.all ? cb(null, [pinned]) : cb(null, pinned.address, pinned.family);
      fetch(target, { lookup }, res);
    });
  }
  res.writeHead(404); res.end("not found");
}).listen(Number(process.env.PORT || 0), "127.0.0.1");
