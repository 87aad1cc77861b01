#include "pair_cli.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>

#include "qr_render.hpp"
#include "wa/fs.hpp"
#include "wa/ipc/client.hpp"

namespace wactl {

using wa::ipc::json;
using Clock = std::chrono::steady_clock;

namespace {

int die(const std::string& msg, int code) {
  std::fprintf(stderr, "wactl: %s\n", msg.c_str());
  return code;
}

wa::Result<json> request(const PairOptions& o, const json& req) {
  auto c = wa::ipc::ControlClient::connect(o.control_url, o.request_timeout_ms);
  if (!c) return wa::Unexpected<wa::Error>{c.error()};
  return c->request(req);
}

std::string error_code(const json& reply) {
  return reply.value("error", json::object()).value("code", std::string("error"));
}
std::string error_text(const json& reply) {
  const json& e = reply.value("error", json::object());
  return e.value("code", std::string("error")) + ": " + e.value("message", std::string());
}

int show_qr(const PairOptions& o, const std::string& text, int shown) {
  auto m = encode_qr(text);
  if (!m) return die(m.error().message, 1);
  if (!o.png_path.empty()) {
    auto png = render_png(*m);
    if (!png) return die(png.error().message, 1);
    // 0600: the QR carries the pairing secret.
    if (auto st = wa::fs::write_file_atomic(o.png_path, wa::as_chars(*png)); !st) return die(st.error().message, 1);
    std::printf("QR code %d written to %s (scan it with WhatsApp > Linked devices)\n", shown, o.png_path.c_str());
  } else {
    std::printf("\nScan with WhatsApp > Settings > Linked devices > Link a device (code %d):\n%s", shown,
                render_utf8(*m, o.invert).c_str());
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

int run_pair(const PairOptions& o) {
  // Subscribe before anything can happen, so the first QR is not missed.
  auto events = wa::ipc::EventClient::connect(o.events_url, o.profile);
  if (!events) return die("cannot reach the event socket: " + events.error().message, 1);

  json start{{"cmd", "start"}, {"profile", o.profile}};
  if (o.create) start["create"] = true;
  auto started = request(o, start);
  if (!started) return die("cannot reach the supervisor: " + started.error().message, 1);
  if (!started->value("ok", false)) {
    if (error_code(*started) == "unknown_profile")
      return die(error_text(*started) + " (a typo? pass --create to add a new account)", 2);
    if (error_code(*started) != "already_running") return die(error_text(*started), 2);
    // Running already: linked, or showing QR codes nobody sees.
    auto st = request(o, {{"cmd", "status"}, {"profile", o.profile}});
    if (!st) return die("cannot reach the supervisor: " + st.error().message, 1);
    json inst = st->value("ok", false) ? (*st)["result"]["instances"][0] : json::object();
    const json linked = inst.value("linked", json());
    if (linked.is_object())
      return die("already_paired: " + o.profile + " is linked as " + linked.value("jid", std::string("?")), 2);
    if (linked == false && o.phone.empty()) {
      // Its current QR went out before we subscribed: a restart shows a
      // fresh one now instead of at the next rotation (up to a minute).
      auto r = request(o, {{"cmd", "restart"}, {"profile", o.profile}});
      if (!r) return die("cannot reach the supervisor: " + r.error().message, 1);
      if (!r->value("ok", false)) return die(error_text(*r), 2);
    }
  }

  const auto deadline = Clock::now() + std::chrono::seconds(o.timeout_s);
  bool code_requested = o.phone.empty();
  int qr_count = 0;
  while (Clock::now() < deadline) {
    if (!code_requested) {
      // The worker serves commands once it is ready; until then the
      // supervisor answers instance_down and we ask again.
      auto r = request(o, {{"cmd", "pair_code"}, {"profile", o.profile}, {"phone", o.phone}});
      if (!r) return die(r.error().message, 1);
      if (r->value("ok", false)) {
        std::string code = (*r)["result"].value("code", "");
        std::printf("Pairing code: %s-%s\nOn the phone: WhatsApp > Linked devices > Link with phone number.\n",
                    code.substr(0, 4).c_str(), code.size() > 4 ? code.substr(4).c_str() : "");
        std::fflush(stdout);
        code_requested = true;
      } else if (error_code(*r) == "already_paired") {
        code_requested = true;  // the open event follows
      } else if (error_code(*r) != "instance_down" && error_code(*r) != "not_connected") {
        return die(error_text(*r), 2);
      }
    }
    auto ev = events->next(code_requested ? 1000 : 200);
    if (!ev) return die(ev.error().message, 1);
    if (!*ev) continue;
    const json& e = **ev;
    std::string type = e.value("type", "");
    if (type == "qr" && o.phone.empty()) {
      if (int rc = show_qr(o, e.value("qr", ""), ++qr_count); rc != 0) return rc;
    } else if (type == "connection") {
      std::string state = e.value("state", "");
      if (state == "open") {
        std::printf("Linked: %s (lid %s)\n", e.value("jid", "").c_str(), e.value("lid", "").c_str());
        return 0;
      }
      if (state == "closed") {
        std::string reason = e.value("reason", "");
        if (reason.rfind("cert_", 0) == 0 || reason == "connect_failed")
          std::fprintf(stderr, "wactl: connection failed (%s); the worker keeps retrying\n", reason.c_str());
      }
    } else if (type == "logged_out" || type == "replaced" || type == "client_outdated") {
      return die("the account cannot be linked: " + type, 5);
    } else if (type == "instance_failed") {
      return die("the instance failed (restart limit reached)", 5);
    }
  }
  return die("not linked within " + std::to_string(o.timeout_s) + " s", 4);
}

}  // namespace wactl
