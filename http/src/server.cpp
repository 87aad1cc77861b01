#include "server.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "metrics.hpp"
#include "qr_render.hpp"
#include "wa/contract/deadlines.hpp"
#include "wa/contract/http.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/crypto_random.hpp"
#include "wa/ipc/addresses.hpp"
#include "wa/ipc/client.hpp"
#include "wa/profile.hpp"
#include "wa/ipc/fields.hpp"
#include "wa/log.hpp"

namespace wa::http {

namespace {

constexpr int kReplayPage = 500;
constexpr int kLocalTimeoutMs = 30000;
constexpr uint64_t kMaxWaitMs = 60000;
constexpr size_t kWsMaxQueued = 20000;  // frames a slow WebSocket reader may owe before it is cut
constexpr size_t kChunk = 64u << 10;

int trampoline(lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len) {
  auto* ctx = lws_get_context(wsi);
  auto* self = ctx ? static_cast<Server*>(lws_context_user(ctx)) : nullptr;
  if (!self) return lws_callback_http_dummy(wsi, reason, user, in, len);
  return self->on_lws(wsi, static_cast<int>(reason), in, len);
}

const lws_protocols kProtocols[] = {
    {"wa-http", trampoline, 0, 64 * 1024, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

std::string header(lws* wsi, lws_token_indexes h) {
  int n = lws_hdr_total_length(wsi, h);
  if (n <= 0) return {};
  std::string s(static_cast<size_t>(n) + 1, '\0');
  if (lws_hdr_copy(wsi, s.data(), n + 1, h) < 0) return {};
  s.resize(static_cast<size_t>(n));
  return s;
}

// lws keeps the query as url-decoded "name=value" fragments.
Result<std::map<std::string, std::string>> query_of(lws* wsi) {
  std::map<std::string, std::string> out;
  std::vector<char> buf(8192);
  for (int i = 0;; ++i) {
    int n = lws_hdr_copy_fragment(wsi, buf.data(), static_cast<int>(buf.size()), WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0) break;
    std::string frag(buf.data(), static_cast<size_t>(n));
    if (frag.empty()) continue;
    auto eq = frag.find('=');
    std::string k = frag.substr(0, eq), v = eq == std::string::npos ? std::string() : frag.substr(eq + 1);
    if (!out.emplace(k, v).second) return fail("bad_request", "query parameter '" + k + "' is given twice");
  }
  return out;
}

std::string content_type_of(const std::string& file) {
  auto ext = std::filesystem::path(file).extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  return "application/octet-stream";
}

Result<int64_t> seq_of(const json& e) { return ipc::field_or<int64_t>(e, "seq", 0); }

}  // namespace

struct Server::Conn {
  uint64_t id = 0;
  lws* wsi = nullptr;
  Method method = Method::other;
  std::string path;
  Route route;
  std::map<std::string, std::string> query;
  const Token* token = nullptr;
  uint64_t expected = 0;  // Content-Length
  uint64_t received = 0;
  std::string body;
  bool dispatched = false;
  // Upload
  int fd = -1;
  std::string upload_path;
  bool upload_failed = false;
  // Long poll
  uint64_t wait_ms = 0;
  int64_t since = 0;
  std::unique_ptr<ipc::Timer> wait_timer;
  bool waiting = false;
  bool waited = false;  // the long poll is over: the next page is the answer
  // The answer
  bool answered = false;
  int status = 0;
  std::string content_type;
  std::string out;
  std::vector<std::pair<std::string, std::string>> extra_headers;
  bool headers_sent = false;
  size_t off = 0;
  bool close_after = false;
  ~Conn() {
    if (fd >= 0) ::close(fd);
    if (!upload_path.empty()) ::unlink(upload_path.c_str());  // an upload never finished leaves nothing
  }
};

struct Server::Pending {
  const Token* token = nullptr;
  std::map<std::string, int64_t> since;  // per profile
  int64_t since_all = 0;
  std::string profile;  // empty: every profile the token may see
};

struct Server::WsClient {
  uint64_t id = 0;
  lws* wsi = nullptr;
  const Token* token = nullptr;
  bool all = false;
  std::map<std::string, int64_t> since;
  int64_t since_all = 0;
  struct Prof {
    int64_t last = 0;
    bool catching = false;
    bool again = false;
  };
  std::map<std::string, Prof> profiles;
  std::deque<std::string> out;
  bool closing = false;
  std::string close_reason;
};

Server::Server(uv_loop_t* loop, HttpConfig cfg, std::string dashboard_dir)
    : loop_(loop), cfg_(std::move(cfg)), dashboard_dir_(std::move(dashboard_dir)), bridge_(loop) {}

Server::~Server() { stop(); }

Status Server::start() {
  auto c = ipc::AsyncControlClient::connect(bridge_, ipc::control_url(cfg_.run_dir));
  if (!c) return Unexpected<Error>{c.error()};
  control_ = std::move(*c);
  auto e = ipc::AsyncEventSubscriber::connect(bridge_, ipc::events_url(cfg_.run_dir), "",
                                              [this](const std::string& p, json ev) { on_event(p, std::move(ev)); });
  if (!e) return Unexpected<Error>{e.error()};
  events_ = std::move(*e);

  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  void* loops[1] = {loop_};
  info.options = LWS_SERVER_OPTION_LIBUV;
  const bool tls = !cfg_.tls_cert.empty();
  if (tls) info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  if (cfg_.host.find(':') == std::string::npos) info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  info.foreign_loops = loops;
  info.port = cfg_.port;
  info.iface = cfg_.host.c_str();
  info.protocols = kProtocols;
  info.user = this;
  info.count_threads = 1;
  info.vhost_name = "wa-http";
  if (tls) {
    info.ssl_cert_filepath = cfg_.tls_cert.c_str();
    info.ssl_private_key_filepath = cfg_.tls_key.c_str();
  }
  info.alpn = "http/1.1";
  info.pt_serv_buf_size = 64 * 1024;
  info.max_http_header_data = 8192;  // request line + headers: larger ones are refused by lws
  info.timeout_secs = 30;
  info.keepalive_timeout = 30;
  ctx_ = lws_create_context(&info);
  if (!ctx_) return fail("listen_failed", "cannot listen on " + cfg_.host + ":" + std::to_string(cfg_.port));
  auto* vh = lws_get_vhost_by_name(ctx_, "wa-http");
  port_ = vh ? lws_get_vhost_listen_port(vh) : cfg_.port;
  return {};
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  if (leave_sockets_) {
    if (control_) control_->leave_socket_to_exit();
    if (events_) events_->leave_socket_to_exit();
  }
  if (ctx_) {
    lws_context_destroy(ctx_);
    ctx_ = nullptr;
  }
  conns_.clear();
  conn_of_.clear();
  ws_.clear();
  ws_of_.clear();
  pending_ws_.clear();
  events_.reset();
  control_.reset();
  bridge_.close();
}

Server::Conn* Server::conn(uint64_t id) {
  auto it = conns_.find(id);
  return it == conns_.end() ? nullptr : it->second.get();
}

int Server::on_lws(lws* wsi, int reason, void* in, size_t len) {
  switch (reason) {
    case LWS_CALLBACK_HTTP:
      if (stopping_) return -1;
      return on_http(wsi, static_cast<const char*>(in));
    case LWS_CALLBACK_HTTP_BODY: {
      auto it = conn_of_.find(wsi);
      if (it == conn_of_.end()) return -1;
      Conn& c = *conns_[it->second];
      c.received += len;
      if (c.answered) return 0;  // a refused request's body: dropped
      if (c.received > c.expected) {
        c.close_after = true;
        respond_error(c, "too_large", "the body is longer than its Content-Length");
        return 0;
      }
      if (c.route.kind == Route::Kind::upload) {
        size_t done = 0;
        while (!c.upload_failed && done < len) {
          ssize_t n = ::write(c.fd, static_cast<const char*>(in) + done, len - done);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) c.upload_failed = true;  // disk full or the like: told at the end
          else done += static_cast<size_t>(n);
        }
      } else {
        c.body.append(static_cast<const char*>(in), len);
      }
      return 0;
    }
    case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
      auto it = conn_of_.find(wsi);
      if (it == conn_of_.end()) return -1;
      Conn& c = *conns_[it->second];
      if (!c.answered && !c.dispatched) dispatch(c);
      return 0;
    }
    case LWS_CALLBACK_HTTP_WRITEABLE: {
      auto it = conn_of_.find(wsi);
      if (it == conn_of_.end()) return 0;
      return on_writeable(wsi, *conns_[it->second]);
    }
    case LWS_CALLBACK_CLOSED_HTTP: {
      auto it = conn_of_.find(wsi);
      if (it != conn_of_.end()) {
        conns_.erase(it->second);  // replies still on their way find nobody
        conn_of_.erase(it);
      }
      return 0;
    }
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: return confirm_upgrade(wsi);
    case LWS_CALLBACK_ESTABLISHED: ws_established(wsi); return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE: return ws_writeable(wsi);
    case LWS_CALLBACK_RECEIVE: return 0;  // the stream is one way; pings are lws's
    case LWS_CALLBACK_CLOSED: {
      pending_ws_.erase(wsi);
      auto it = ws_of_.find(wsi);
      if (it != ws_of_.end()) {
        ws_.erase(it->second);
        ws_of_.erase(it);
      }
      return 0;
    }
    default: break;
  }
  return lws_callback_http_dummy(wsi, static_cast<lws_callback_reasons>(reason), nullptr, in, len);
}

const Token* Server::authenticate(lws* wsi, const std::map<std::string, std::string>& query) const {
  std::string given;
  std::string auth = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
  if (auth.size() > 7 && strncasecmp(auth.c_str(), "Bearer ", 7) == 0) given = auth.substr(7);
  else if (auto q = query.find("access_token"); q != query.end()) given = q->second;
  if (given.empty()) return nullptr;
  auto digest = crypto::sha256(as_bytes(given));
  const Token* found = nullptr;
  // Every entry compared in constant time: the answer's timing says nothing.
  for (const auto& t : cfg_.tokens)
    if (CRYPTO_memcmp(t.sha256.data(), digest.data(), digest.size()) == 0) found = &t;
  return found;
}

int Server::rate_wait_s(const Token& t) {
  auto now = std::chrono::steady_clock::now();
  auto [it, fresh] = buckets_.try_emplace(t.name);
  Bucket& b = it->second;
  if (fresh) {
    b.tokens = cfg_.rate_burst;
  } else {
    double dt = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(cfg_.rate_burst, b.tokens + dt * cfg_.rate_per_s);
  }
  b.last = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return std::max(1, static_cast<int>(std::ceil((1 - b.tokens) / cfg_.rate_per_s)));
}

int Server::on_http(lws* wsi, const char* uri) {
  auto c = std::make_unique<Conn>();
  c->id = next_id_++;
  c->wsi = wsi;
  Conn& r = *c;
  if (auto old = conn_of_.find(wsi); old != conn_of_.end()) conns_.erase(old->second);  // keep-alive: the next request
  conn_of_[wsi] = c->id;
  conns_[c->id] = std::move(c);
  if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0) r.method = Method::get;
  else if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) r.method = Method::post;
  r.path = uri ? uri : "";
  auto q = query_of(wsi);
  if (!q) {
    respond_error(r, q.error().code, q.error().message);
    return 0;
  }
  r.query = std::move(*q);
  auto route = match_route(r.method, r.path);
  if (!route) {
    if (r.method != Method::get) r.close_after = true;  // a body it may have is not read
    respond_error(r, route.error().code, route.error().message);
    return 0;
  }
  r.route = std::move(*route);
  using K = Route::Kind;
  const bool open = r.route.kind == K::healthz || r.route.kind == K::readyz || r.route.kind == K::openapi ||
                    r.route.kind == K::file || (r.route.kind == K::metrics && cfg_.metrics_open);
  if (!open) {
    r.token = authenticate(wsi, r.query);
    if (r.token == nullptr) {
      r.close_after = r.method == Method::post;
      r.extra_headers.push_back({"WWW-Authenticate", "Bearer"});
      respond_error(r, "unauthorized", "a valid bearer token is required (Authorization: Bearer …)");
      return 0;
    }
    if (int wait = rate_wait_s(*r.token); wait > 0) {
      r.close_after = r.method == Method::post;
      r.extra_headers.push_back({"Retry-After", std::to_string(wait)});
      respond_error(r, "rate_limited", "token '" + r.token->name + "' is over " +
                                           std::to_string(static_cast<int>(cfg_.rate_per_s)) + " requests/s");
      return 0;
    }
    if (auto st = authorize(*r.token, r.route); !st) {
      r.close_after = r.method == Method::post;
      respond_error(r, st.error().code, st.error().message);
      return 0;
    }
  }
  if (r.route.kind == K::events_ws) {
    respond_error(r, "bad_request", "/v1/events is a WebSocket: send Upgrade: websocket");
    return 0;
  }
  if (r.method == Method::post) {
    std::string cl = header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    const uint64_t limit = r.route.kind == K::upload ? cfg_.upload_max_bytes : cfg_.max_body_bytes;
    if (cl.empty() || cl.size() > 19 || cl.find_first_not_of("0123456789") != std::string::npos) {
      r.close_after = true;
      respond_error(r, "bad_request", "a POST needs a Content-Length (chunked bodies are not taken)");
      return 0;
    }
    r.expected = std::stoull(cl);
    if (r.expected > limit) {
      // Refused before reading it: the connection closes after the answer.
      r.close_after = true;
      respond_error(r, "too_large", "the body is larger than " + std::to_string(limit) + " bytes");
      return 0;
    }
    if (r.route.kind == K::upload) start_upload(r);
    if (r.answered) return 0;
    if (r.expected > 0) {
      // curl and others ask before sending a large body; lws does not answer
      // for us (a refusal above is the final answer, the body never comes).
      std::string expect = header(wsi, WSI_TOKEN_HTTP_EXPECT);
      if (expect.size() == 12 && strncasecmp(expect.c_str(), "100-continue", 12) == 0) {
        static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        unsigned char buf[LWS_PRE + sizeof kContinue];
        std::memcpy(buf + LWS_PRE, kContinue, sizeof kContinue - 1);
        if (lws_write(wsi, buf + LWS_PRE, sizeof kContinue - 1, LWS_WRITE_RAW) < static_cast<int>(sizeof kContinue - 1))
          return -1;
      }
      return 0;  // dispatched at the body's completion
    }
  }
  dispatch(r);
  return 0;
}

void Server::dispatch(Conn& c) {
  c.dispatched = true;
  // lws's idle timeout (timeout_secs) would cut a long poll or a send that
  // waits for the server's ack; the control request has its own deadline.
  lws_set_timeout(c.wsi, NO_PENDING_TIMEOUT, 0);
  using K = Route::Kind;
  switch (c.route.kind) {
    case K::healthz: respond(c, 200, R"({"ok":true,"result":{"alive":true}})"); return;
    case K::openapi: {
      static const std::string doc = ipc::dump_json(contract::openapi());
      respond(c, 200, doc);
      return;
    }
    case K::file: serve_file(c); return;
    case K::qr_svg: serve_qr(c); return;
    case K::readyz: {
      control_->request({{"cmd", "ping"}}, 2000, [this, id = c.id](Result<json> r) {
        Conn* cc = conn(id);
        if (!cc) return;
        if (r && r->value("ok", false)) respond(*cc, 200, R"({"ok":true,"result":{"ready":true}})");
        else respond_error(*cc, "not_connected", "the supervisor does not answer ping");
      });
      return;
    }
    case K::metrics: {
      control_->request({{"cmd", "metrics"}}, kLocalTimeoutMs, [this, id = c.id](Result<json> r) {
        Conn* cc = conn(id);
        if (!cc) return;
        if (!r) return respond_error(*cc, r.error().code, r.error().message);
        if (!r->value("ok", false)) {
          const json& e = (*r)["error"];
          return respond_error(*cc, e.value("code", "internal"), e.value("message", ""));
        }
        json m = (*r)["result"];
        // Webhook cursors, when the supervisor has webhooks (optional).
        control_->request({{"cmd", "webhook_list"}}, kLocalTimeoutMs, [this, id, m](Result<json> w) {
          Conn* c2 = conn(id);
          if (!c2) return;
          json hooks = w && w->value("ok", false) ? (*w)["result"] : json();
          respond(*c2, 200, render_metrics(m, hooks), "text/plain; version=0.0.4; charset=utf-8");
        });
      });
      return;
    }
    case K::upload: {
      if (c.upload_failed || c.fd < 0) {
        respond_error(c, "file_error", "the upload could not be written");
        return;
      }
      ::close(c.fd);
      c.fd = -1;
      std::string path = std::exchange(c.upload_path, std::string());
      respond(c, 200, ipc::dump_json(json{{"ok", true}, {"result", {{"path", path}, {"size", c.received}}}}));
      WA_INFO("http: upload by token '%s' for %s: %llu bytes", c.token->name.c_str(), c.route.profile.c_str(),
              static_cast<unsigned long long>(c.received));
      return;
    }
    case K::command: run_command(c); return;
    case K::events_ws: return;  // answered in on_http
  }
}

void Server::run_command(Conn& c) {
  auto req = build_request(c.route, c.method, c.query, c.body);
  if (!req) return respond_error(c, req.error().code, req.error().message);
  const contract::CommandSpec& spec = *c.route.spec;
  if (spec.name == "events" && c.query.count("wait_ms") && !c.waited) {
    const std::string& w = c.query["wait_ms"];
    if (w.empty() || w.size() > 6 || w.find_first_not_of("0123456789") != std::string::npos ||
        std::stoull(w) > kMaxWaitMs)
      return respond_error(c, "bad_request", "wait_ms must be a whole number from 0 to 60000");
    c.wait_ms = std::stoull(w);
    c.since = (*req).value("since", json(0)).is_number_integer() ? (*req)["since"].get<int64_t>() : 0;
  }
  const int timeout = spec.deadline == contract::Deadline::local ? kLocalTimeoutMs
                                                                 : static_cast<int>(contract::kClientWaitMs);
  const bool sends = spec.sends;
  const bool is_status = spec.name == "status";
  control_->request_raw(ipc::dump_json(*req), timeout, [this, id = c.id, sends, is_status](Result<std::string> r) {
    Conn* cc = conn(id);
    if (!cc) return;
    if (!r) {
      // A send whose answer never came may have left: never say "not sent".
      if (sends && r.error().code == "timeout")
        return respond_error(*cc, "unknown_outcome", "no answer from the supervisor: the message may have been sent");
      const std::string& code = r.error().code;
      if (code == "timeout" || code == "too_large") return respond_error(*cc, code, r.error().message);
      return respond_error(*cc, code == "ipc_error" ? "not_connected" : "internal", r.error().message);
    }
    auto j = ipc::parse_json_text(as_bytes(*r), "reply");
    if (!j || !ipc::check_reply(*j)) return respond_error(*cc, "internal", "the supervisor's reply is not an envelope");
    if (!j->value("ok", false)) {
      const std::string code = (*j)["error"]["code"].get<std::string>();
      return respond(*cc, contract::http_status(code), ipc::dump_json(*j));
    }
    if (is_status) (*j)["result"] = filter_status(*cc->token, std::move((*j)["result"]));
    if (cc->wait_ms > 0) {
      const json& ev = (*j)["result"]["events"];
      if (ev.is_array() && ev.empty() && !cc->waiting) {
        cc->waiting = true;
        cc->wait_timer = std::make_unique<ipc::Timer>(loop_);
        cc->wait_timer->start(cc->wait_ms, [this, id] { long_poll(id); });
        // An event logged between the query and now: ask again at once.
        if (live_head_[cc->route.profile] > cc->since) long_poll(id);
        return;
      }
    }
    if (cc->route.spec->name == "events" && (*j)["result"].contains("events") && (*j)["result"]["events"].is_array())
      for (auto& e : (*j)["result"]["events"]) e = event_view(*cc->token, with_secret(cc->route.profile, e));
    respond(*cc, 200, ipc::dump_json(*j));
  });
}

// The long poll ends: an event arrived or the wait is over. Either way the
// page is read again, so an event logged meanwhile is never missed.
void Server::long_poll(uint64_t id) {
  Conn* c = conn(id);
  if (!c || c->answered || !c->waiting) return;
  c->waiting = false;
  c->waited = true;
  c->wait_ms = 0;
  if (c->wait_timer) c->wait_timer->stop();
  run_command(*c);
}

void Server::respond(Conn& c, int status, std::string body, std::string content_type) {
  if (c.answered) return;
  c.answered = true;
  c.status = status;
  c.out = std::move(body);
  c.content_type = std::move(content_type);
  WA_DEBUG("http: %s %s -> %d%s%s", c.method == Method::get ? "GET" : c.method == Method::post ? "POST" : "other",
           c.path.c_str(), status, c.token ? " token " : "", c.token ? c.token->name.c_str() : "");
  lws_callback_on_writable(c.wsi);
}

void Server::respond_error(Conn& c, const std::string& code, const std::string& message) {
  respond(c, contract::http_status(code), error_body(code, message));
}

int Server::on_writeable(lws* wsi, Conn& c) {
  if (!c.answered) return 0;
  if (!c.headers_sent) {
    std::vector<unsigned char> buf(LWS_PRE + 4096);
    unsigned char *start = buf.data() + LWS_PRE, *p = start, *end = buf.data() + buf.size() - 1;
    if (lws_add_http_common_headers(wsi, static_cast<unsigned>(c.status), c.content_type.c_str(), c.out.size(), &p, end))
      return -1;
    auto add = [&](const std::string& name, const std::string& value) {
      std::string n = name + ":";
      return lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(n.c_str()),
                                         reinterpret_cast<const unsigned char*>(value.data()),
                                         static_cast<int>(value.size()), &p, end);
    };
    if (add("cache-control", "no-store") || add("x-content-type-options", "nosniff")) return -1;
    for (const auto& [k, v] : c.extra_headers)
      if (add(k, v)) return -1;
    if (c.close_after && add("connection", "close")) return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end)) return -1;
    c.headers_sent = true;
    if (c.out.empty()) {
      if (c.close_after) return -1;
      return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    lws_callback_on_writable(wsi);
    return 0;
  }
  size_t n = std::min(kChunk, c.out.size() - c.off);
  std::vector<unsigned char> buf(LWS_PRE + n);
  std::memcpy(buf.data() + LWS_PRE, c.out.data() + c.off, n);
  bool last = c.off + n == c.out.size();
  if (lws_write(wsi, buf.data() + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < static_cast<int>(n))
    return -1;
  c.off += n;
  if (!last) {
    lws_callback_on_writable(wsi);
    return 0;
  }
  if (c.close_after) return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void Server::serve_file(Conn& c) {
  if (dashboard_dir_.empty()) return respond_error(c, "not_found", "no dashboard directory");
  const std::string path = dashboard_dir_ + "/" + c.route.file;
  std::ifstream f(path, std::ios::binary);
  std::error_code ec;
  if (!f || !std::filesystem::is_regular_file(path, ec)) return respond_error(c, "not_found", "no such file");
  std::stringstream ss;
  ss << f.rdbuf();
  respond(c, 200, ss.str(), content_type_of(path));
}

void Server::serve_qr(Conn& c) {
  auto it = qr_.find(c.route.profile);
  if (it == qr_.end() || it->second.expires < std::chrono::steady_clock::now())
    return respond_error(c, "not_found", "no live QR code for '" + c.route.profile + "'");
  auto m = wactl::encode_qr(it->second.text);
  if (!m) return respond_error(c, "internal", m.error().message);
  respond(c, 200, wactl::render_svg(*m), "image/svg+xml");
}

void Server::start_upload(Conn& c) {
  if (cfg_.upload_dir.empty()) return respond_error(c, "not_found", "uploads are off (no http.upload_dir)");
  const std::string dir = cfg_.upload_dir + "/" + c.route.profile;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  ::chmod(dir.c_str(), 0700);
  // The name is ours; only a short, plain extension is taken from `name`.
  std::string ext;
  if (auto n = c.query.find("name"); n != c.query.end()) {
    std::string e = std::filesystem::path(n->second).extension().string();
    if (e.size() <= 8 && e.size() > 1 &&
        std::all_of(e.begin() + 1, e.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)); }))
      ext = e;
  }
  c.upload_path = dir + "/" + random_hex(12) + ext;
  c.fd = ::open(c.upload_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (c.fd < 0) {
    c.upload_path.clear();
    c.close_after = true;
    respond_error(c, "file_error", "cannot create the upload file");
  }
}

// --- WebSocket /v1/events ---

int Server::confirm_upgrade(lws* wsi) {
  // Refusals are answered here, as JSON, before the upgrade happens.
  auto refuse = [&](const std::string& code, const std::string& message,
                    std::vector<std::pair<std::string, std::string>> extra = {}) {
    const std::string body = error_body(code, message);
    std::vector<unsigned char> buf(LWS_PRE + 4096 + body.size());
    unsigned char *start = buf.data() + LWS_PRE, *p = start, *end = buf.data() + buf.size() - 1;
    if (lws_add_http_common_headers(wsi, static_cast<unsigned>(contract::http_status(code)), "application/json",
                                    body.size(), &p, end))
      return -1;
    for (const auto& [k, v] : extra) {
      std::string n = k + ":";
      if (lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(n.c_str()),
                                      reinterpret_cast<const unsigned char*>(v.data()), static_cast<int>(v.size()), &p,
                                      end))
        return -1;
    }
    if (lws_finalize_http_header(wsi, &p, end)) return -1;
    std::memcpy(p, body.data(), body.size());
    p += body.size();
    if (lws_write(wsi, start, static_cast<size_t>(p - start), LWS_WRITE_HTTP_FINAL) < 0) return -1;
    return 1;
  };
  std::string path = header(wsi, WSI_TOKEN_GET_URI);
  if (path != "/v1/events") return refuse("not_found", "WebSockets are served at /v1/events only");
  auto q = query_of(wsi);
  if (!q) return refuse(q.error().code, q.error().message);
  const Token* t = authenticate(wsi, *q);
  if (!t) return refuse("unauthorized", "a valid token is required (Authorization: Bearer …, or ?access_token=)",
                        {{"WWW-Authenticate", "Bearer"}});
  if (int wait = rate_wait_s(*t); wait > 0)
    return refuse("rate_limited", "token '" + t->name + "' is over its request rate", {{"Retry-After", std::to_string(wait)}});
  if (ws_.size() + pending_ws_.size() >= static_cast<size_t>(cfg_.max_ws_clients))
    return refuse("rate_limited", "too many WebSocket clients", {{"Retry-After", "5"}});
  auto p = std::make_unique<Pending>();
  p->token = t;
  if (auto it = q->find("profile"); it != q->end()) {
    if (!validate_profile_name(it->second)) return refuse("invalid_profile", "not a valid profile name");
    if (!t->may_see(it->second)) return refuse("forbidden", "token '" + t->name + "' may not use profile '" + it->second + "'");
    p->profile = it->second;
  }
  if (auto it = q->find("since"); it != q->end()) {
    auto number = [](const std::string& s, int64_t& out) {
      if (s.empty() || s.size() > 16 || s.find_first_not_of("0123456789") != std::string::npos) return false;
      out = std::stoll(s);
      return true;
    };
    if (!number(it->second, p->since_all)) {
      // "sales:41,support:7"
      std::stringstream ss(it->second);
      std::string item;
      while (std::getline(ss, item, ',')) {
        auto colon = item.rfind(':');
        int64_t n = 0;
        if (colon == std::string::npos || !validate_profile_name(item.substr(0, colon)) ||
            !number(item.substr(colon + 1), n))
          return refuse("bad_request", "since must be a number or PROFILE:SEQ,…");
        p->since[item.substr(0, colon)] = n;
      }
    }
  }
  pending_ws_[wsi] = std::move(p);
  return 0;
}

void Server::ws_established(lws* wsi) {
  auto pit = pending_ws_.find(wsi);
  if (pit == pending_ws_.end()) return;
  auto p = std::move(pit->second);
  pending_ws_.erase(pit);
  auto w = std::make_unique<WsClient>();
  w->id = next_id_++;
  w->wsi = wsi;
  w->token = p->token;
  w->since = p->since;
  w->since_all = p->since_all;
  w->all = p->profile.empty();
  WsClient& ref = *w;
  ws_of_[wsi] = w->id;
  ws_[w->id] = std::move(w);
  if (!ref.all) {
    ws_start_profile(ref, p->profile, p->since.count(p->profile) ? p->since[p->profile] : p->since_all);
    return;
  }
  // Every profile the token may see: the supervisor's list now; profiles
  // that appear later join on their first live event.
  control_->request({{"cmd", "status"}}, kLocalTimeoutMs, [this, id = ref.id](Result<json> r) {
    auto it = ws_.find(id);
    if (it == ws_.end()) return;
    WsClient& wc = *it->second;
    if (!r || !r->value("ok", false)) return ws_close(wc, "the supervisor did not answer status");
    const json& inst = (*r)["result"]["instances"];
    if (!inst.is_array()) return;
    for (const auto& i : inst) {
      if (!i.is_object() || !i.contains("profile") || !i["profile"].is_string()) continue;
      const std::string prof = i["profile"].get<std::string>();
      if (wc.token->may_see(prof) && !wc.profiles.count(prof))
        ws_start_profile(wc, prof, wc.since.count(prof) ? wc.since[prof] : wc.since_all);
    }
  });
}

void Server::ws_start_profile(WsClient& w, const std::string& profile, int64_t since) {
  auto& pr = w.profiles[profile];
  pr.last = since;
  ws_catch_up(w.id, profile);
}

// Reads the log after what the client has, page by page, until the end;
// live events meanwhile only ask for one more round (the log has them).
void Server::ws_catch_up(uint64_t wid, const std::string& profile) {
  auto it = ws_.find(wid);
  if (it == ws_.end()) return;
  WsClient& w = *it->second;
  auto& pr = w.profiles[profile];
  if (pr.catching) {
    pr.again = true;
    return;
  }
  pr.catching = true;
  pr.again = false;
  json req{{"cmd", "events"}, {"profile", profile}, {"since", pr.last}, {"limit", kReplayPage}};
  control_->request(req, kLocalTimeoutMs, [this, wid, profile](Result<json> r) {
    auto it2 = ws_.find(wid);
    if (it2 == ws_.end()) return;
    WsClient& wc = *it2->second;
    auto& p = wc.profiles[profile];
    p.catching = false;
    if (!r || !r->value("ok", false)) {
      std::string code = r ? (*r)["error"].value("code", "internal") : r.error().code;
      ws_push(wc, {{"type", "error"}, {"profile", profile}, {"code", code}, {"message", "replay failed"}});
      if (code == "unknown_profile") return;
      return ws_close(wc, "replay failed");
    }
    const json& page = (*r)["result"]["events"];
    if (!page.is_array()) return ws_close(wc, "replay failed");
    for (const auto& e : page) {
      auto seq = seq_of(e);
      if (!seq || *seq <= p.last) continue;
      p.last = *seq;
      ws_push(wc, with_secret(profile, e));
    }
    if (page.size() >= static_cast<size_t>(kReplayPage) || p.again) ws_catch_up(wid, profile);
  });
}

void Server::ws_push(WsClient& w, const json& event) {
  if (w.closing) return;
  if (w.out.size() >= kWsMaxQueued) return ws_close(w, "the client reads too slowly");
  w.out.push_back(ipc::dump_json(event_view(*w.token, event)));
  lws_callback_on_writable(w.wsi);
}

void Server::ws_close(WsClient& w, const std::string& why) {
  if (w.closing) return;
  w.closing = true;
  w.close_reason = why;
  w.out.clear();
  lws_callback_on_writable(w.wsi);
}

int Server::ws_writeable(lws* wsi) {
  auto it = ws_of_.find(wsi);
  if (it == ws_of_.end()) return 0;
  WsClient& w = *ws_[it->second];
  if (w.closing) {
    lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, reinterpret_cast<unsigned char*>(w.close_reason.data()),
                     std::min<size_t>(w.close_reason.size(), 120));
    return -1;
  }
  if (w.out.empty()) return 0;
  std::string frame = std::move(w.out.front());
  w.out.pop_front();
  std::vector<unsigned char> buf(LWS_PRE + frame.size());
  std::memcpy(buf.data() + LWS_PRE, frame.data(), frame.size());
  if (lws_write(wsi, buf.data() + LWS_PRE, frame.size(), LWS_WRITE_TEXT) < static_cast<int>(frame.size())) return -1;
  if (!w.out.empty()) lws_callback_on_writable(wsi);
  return 0;
}

json Server::with_secret(const std::string& profile, const json& event) const {
  auto it = secrets_.find(profile);
  if (it == secrets_.end() || !event.is_object()) return event;
  auto seq = seq_of(event);
  if (!seq || *seq == 0) return event;
  for (const auto& live : it->second)
    if (live.value("seq", json(0)) == *seq && live.value("type", "") == event.value("type", "")) return live;
  return event;
}

void Server::on_event(const std::string& profile, json event) {
  auto seq_r = seq_of(event);
  const int64_t seq = seq_r ? *seq_r : 0;
  if (seq > 0) live_head_[profile] = std::max(live_head_[profile], seq);
  // The QR code for qr.svg: kept in memory only, until it expires or the
  // account links.
  const std::string type = event.value("type", "");
  if ((type == "qr" || type == "pairing_code") && seq > 0) {
    auto& d = secrets_[profile];
    d.push_back(event);
    while (d.size() > 8) d.pop_front();
  }
  if (type == "qr" && event.contains("qr") && event["qr"].is_string()) {
    int64_t ttl = event.value("ttl_ms", json(60000)).is_number_integer() ? event["ttl_ms"].get<int64_t>() : 60000;
    qr_[profile] = {event["qr"].get<std::string>(), std::chrono::steady_clock::now() + std::chrono::milliseconds(ttl)};
  } else if (type == "paired" || type == "logged_out" || type == "instance_stopped" ||
             (type == "connection" && event.value("state", "") == "open")) {
    qr_.erase(profile);
    secrets_.erase(profile);
  }
  // Long polls of this profile.
  if (seq > 0) {
    std::vector<uint64_t> ready;
    for (auto& [id, c] : conns_)
      if (c->waiting && c->route.profile == profile && seq > c->since) ready.push_back(id);
    for (uint64_t id : ready) long_poll(id);
  }
  // WebSockets: each event once, in seq order; a gap is read from the log.
  std::vector<uint64_t> ids;
  for (auto& [id, w] : ws_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = ws_.find(id);
    if (it == ws_.end()) continue;
    WsClient& w = *it->second;
    auto pit = w.profiles.find(profile);
    if (pit == w.profiles.end()) {
      if (w.all && w.token->may_see(profile))
        ws_start_profile(w, profile, w.since.count(profile) ? w.since[profile] : w.since_all);
      continue;
    }
    auto& pr = pit->second;
    if (seq == 0) {  // could not be logged: live only
      ws_push(w, event);
      continue;
    }
    if (seq <= pr.last) continue;
    if (pr.catching || seq > pr.last + 1) {
      ws_catch_up(id, profile);
      continue;
    }
    pr.last = seq;
    ws_push(w, event);
  }
}

}  // namespace wa::http
