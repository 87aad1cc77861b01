#include "events_cli.hpp"

#include <cstdio>
#include <iostream>

#include "wa/ipc/client.hpp"
#include "wa/ipc/fields.hpp"

namespace wactl {

using wa::ipc::json;

namespace {

constexpr int kReplayPage = 500;

int fail_with(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "wactl: %s\n", msg.c_str());
  return code;
}

class Printer {
 public:
  explicit Printer(int64_t max) : max_(max) {}
  // False once the requested number of events has been printed.
  bool print(const json& e) {
    std::cout << e.dump() << '\n' << std::flush;
    return max_ == 0 || ++printed_ < max_;
  }

 private:
  int64_t max_;
  int64_t printed_ = 0;
};

}  // namespace

int run_events(const EventsOptions& o) {
  if (o.since && o.profile.empty()) return fail_with("--since needs --profile: the event log is per profile");
  // Subscribe before replaying, so nothing falls between the two.
  auto live = wa::ipc::EventClient::connect(o.events_url, o.profile);
  if (!live) return fail_with("cannot reach the event socket at " + o.events_url + ": " + live.error().message);
  Printer out(o.max_events);

  if (!o.since) {
    for (;;) {
      auto e = live->next(1000);
      if (!e) return fail_with(e.error().message);
      if (*e && !out.print(**e)) return 0;
    }
  }

  auto control = wa::ipc::ControlClient::connect(o.control_url, o.request_timeout_ms);
  if (!control) return fail_with("cannot reach the supervisor at " + o.control_url + ": " + control.error().message);
  int64_t last = *o.since;
  // Prints logged events after `last` up to the end of the log. Returns an
  // exit code when done for good, nullopt to go on.
  auto catch_up = [&]() -> std::optional<int> {
    for (;;) {
      auto r = control->request({{"cmd", "events"}, {"profile", o.profile}, {"since", last}, {"limit", kReplayPage}});
      if (!r) return fail_with("replay: " + r.error().message);
      if (!r->value("ok", false)) {
        const json& err = r->value("error", json::object());
        return fail_with(err.value("code", std::string("error")) + ": " + err.value("message", std::string()), 2);
      }
      auto result = wa::ipc::object_field(*r, "result");
      auto events = result ? wa::ipc::field<json>(*result, "events") : wa::Result<json>(wa::Unexpected<wa::Error>{result.error()});
      if (!events || !events->is_array()) return fail_with("replay: the reply has no list of events");
      const json& page = *events;
      for (const auto& e : page) {
        auto seq = wa::ipc::field<int64_t>(e, "seq");
        if (!seq) return fail_with("replay: " + seq.error().message);
        last = *seq;
        if (!out.print(e)) return 0;
      }
      if (page.size() < static_cast<size_t>(kReplayPage)) return std::nullopt;
    }
  };
  if (auto done = catch_up()) return *done;
  if (!o.follow) return 0;

  for (;;) {
    auto e = live->next(1000);
    if (!e) return fail_with(e.error().message);
    if (!*e) continue;
    const json& ev = **e;
    auto seq_r = wa::ipc::field_or<int64_t>(ev, "seq", 0);
    if (!seq_r) continue;  // not an event we can place: skip it, never abort
    const int64_t seq = *seq_r;
    if (seq == 0) {  // could not be logged: live only
      if (!out.print(ev)) return 0;
      continue;
    }
    if (seq <= last) continue;  // already printed from the log
    if (seq > last + 1) {
      if (auto done = catch_up()) return *done;
      if (seq <= last) continue;
    }
    last = seq;
    if (!out.print(ev)) return 0;
  }
}

}  // namespace wactl
