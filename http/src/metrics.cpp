#include "metrics.hpp"

#include <map>
#include <sstream>

namespace wa::http {

using json = nlohmann::json;

std::string prom_label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {

// The instance states a `wa_instance_state` series exists for (1 for the
// current one), so a dashboard can graph each without knowing the others.
constexpr const char* kStates[] = {"stopped", "starting", "running", "restarting", "stopping", "failed"};

class Out {
 public:
  void family(const std::string& name, const char* type, const char* help) {
    if (!declared_.insert({name, true}).second) return;
    s_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  void sample(const std::string& name, const std::vector<std::pair<std::string, std::string>>& labels, const json& v) {
    if (!v.is_number()) return;
    s_ << name;
    if (!labels.empty()) {
      s_ << '{';
      for (size_t i = 0; i < labels.size(); ++i)
        s_ << (i ? "," : "") << labels[i].first << "=\"" << prom_label_value(labels[i].second) << '"';
      s_ << '}';
    }
    s_ << ' ' << v.dump() << '\n';
  }
  std::string str() const { return s_.str(); }

 private:
  std::ostringstream s_;
  std::map<std::string, bool> declared_;
};

std::string str_of(const json& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const json& num_of(const json& o, const char* k) {
  static const json none;
  auto it = o.find(k);
  return it != o.end() && it->is_number() ? *it : none;
}

}  // namespace

std::string render_metrics(const json& m, const json& webhooks) {
  Out o;
  if (m.is_object() && m.contains("supervisor") && m["supervisor"].is_object()) {
    const json& s = m["supervisor"];
    o.family("wa_supervisor_uptime_seconds", "gauge", "seconds since the supervisor started");
    if (num_of(s, "uptime_ms").is_number())
      o.sample("wa_supervisor_uptime_seconds", {}, json(num_of(s, "uptime_ms").get<double>() / 1000.0));
    o.family("wa_supervisor_instances", "gauge", "instances the supervisor knows");
    o.sample("wa_supervisor_instances", {}, num_of(s, "instances"));
    o.family("wa_supervisor_sender_processes", "gauge", "sender processes running, all profiles");
    o.sample("wa_supervisor_sender_processes", {}, num_of(s, "sender_processes"));
    o.family("wa_supervisor_restarts_total", "counter", "worker restarts since the supervisor started, all profiles");
    o.sample("wa_supervisor_restarts_total", {}, num_of(s, "restarts_total"));
  }
  if (m.is_object() && m.contains("cluster") && m["cluster"].is_object()) {
    const json& c = m["cluster"];
    o.family("wa_cluster_leases_lost_total", "counter", "accounts this host gave up because their lease moved or lapsed");
    o.sample("wa_cluster_leases_lost_total", {}, num_of(c, "leases_lost"));
    o.family("wa_cluster_draining", "gauge", "1 while this host is drained");
    o.sample("wa_cluster_draining", {}, json(c.value("draining", false) ? 1 : 0));
    if (c.contains("nats_connected")) {
      o.family("wa_cluster_nats_connected", "gauge", "1 while NATS is reachable");
      o.sample("wa_cluster_nats_connected", {}, json(c.value("nats_connected", false) ? 1 : 0));
      o.family("wa_cluster_requests_total", "counter", "commands sent to other hosts over NATS");
      o.sample("wa_cluster_requests_total", {}, num_of(c, "requests_out"));
      o.family("wa_cluster_request_failures_total", "counter", "commands to other hosts that failed (cluster_unavailable, no answer)");
      o.sample("wa_cluster_request_failures_total", {}, num_of(c, "request_failures"));
      o.family("wa_cluster_events_dropped_total", "counter", "events not published on NATS (replayed from the log by the other hosts)");
      o.sample("wa_cluster_events_dropped_total", {}, num_of(c, "events_dropped"));
    }
  }
  std::map<std::string, int64_t> heads;
  if (m.is_object() && m.contains("profiles") && m["profiles"].is_array()) {
    for (const auto& p : m["profiles"]) {
      if (!p.is_object()) continue;
      const std::string profile = str_of(p, "profile");
      if (profile.empty()) continue;
      const std::string state = str_of(p, "state");
      o.family("wa_instance_up", "gauge", "1 when the instance is running");
      o.sample("wa_instance_up", {{"profile", profile}}, json(state == "running" ? 1 : 0));
      o.family("wa_instance_state", "gauge", "1 for the instance's current state");
      for (const char* st : kStates) o.sample("wa_instance_state", {{"profile", profile}, {"state", st}}, json(state == st ? 1 : 0));
      o.family("wa_connection_open", "gauge", "1 when the account's socket is logged in (connection state open)");
      o.sample("wa_connection_open", {{"profile", profile}}, json(str_of(p, "connection") == "open" ? 1 : 0));
      o.family("wa_restarts_total", "counter", "worker restarts of the instance");
      o.sample("wa_restarts_total", {{"profile", profile}}, num_of(p, "restarts"));
      o.family("wa_reconnects_total", "counter", "socket reconnects inside the connection worker");
      o.sample("wa_reconnects_total", {{"profile", profile}}, num_of(p, "reconnects"));
      o.family("wa_messages_in_total", "counter", "messages received");
      o.sample("wa_messages_in_total", {{"profile", profile}}, num_of(p, "messages_in"));
      o.family("wa_messages_out_total", "counter", "messages sent");
      o.sample("wa_messages_out_total", {{"profile", profile}}, num_of(p, "messages_out"));
      o.family("wa_sends_failed_total", "counter", "failed sends by error code");
      if (p.contains("sends_failed") && p["sends_failed"].is_object())
        for (const auto& [code, n] : p["sends_failed"].items())
          o.sample("wa_sends_failed_total", {{"profile", profile}, {"code", code}}, n);
      o.family("wa_sender_processes", "gauge", "sender processes of the instance");
      o.sample("wa_sender_processes", {{"profile", profile}}, num_of(p, "senders"));
      o.family("wa_event_log_head", "gauge", "the last seq of the profile's event log");
      o.sample("wa_event_log_head", {{"profile", profile}}, num_of(p, "log_head"));
      if (num_of(p, "log_head").is_number_integer()) heads[profile] = num_of(p, "log_head").get<int64_t>();
    }
  }
  // webhook_list: {"webhooks": [{"name", "deliveries": [{"profile", "cursor", "head", "lag", "state"}]}]}
  const json* list = webhooks.is_object() && webhooks.contains("webhooks") ? &webhooks["webhooks"] : nullptr;
  if (list != nullptr && list->is_array()) {
    for (const auto& w : *list) {
      if (!w.is_object()) continue;
      const std::string name = str_of(w, "name");
      auto cur = w.find("deliveries");
      if (name.empty() || cur == w.end() || !cur->is_array()) continue;
      for (const auto& c : *cur) {
        if (!c.is_object()) continue;
        const std::string profile = str_of(c, "profile");
        if (profile.empty()) continue;
        o.family("wa_webhook_cursor", "gauge", "the last seq the webhook acknowledged");
        o.sample("wa_webhook_cursor", {{"webhook", name}, {"profile", profile}}, num_of(c, "cursor"));
        // The lag webhook_list measured against the log itself; else against
        // the head the supervisor has seen.
        json lag = num_of(c, "lag");
        if (!lag.is_number() && num_of(c, "cursor").is_number_integer() && heads.count(profile))
          lag = std::max<int64_t>(0, heads[profile] - num_of(c, "cursor").get<int64_t>());
        o.family("wa_webhook_lag", "gauge", "events of the log the webhook has not acknowledged yet");
        o.sample("wa_webhook_lag", {{"webhook", name}, {"profile", profile}}, lag);
        o.family("wa_webhook_paused", "gauge", "1 when delivery to the webhook is paused");
        o.sample("wa_webhook_paused", {{"webhook", name}, {"profile", profile}}, json(str_of(c, "state") == "paused" ? 1 : 0));
      }
    }
  }
  return o.str();
}

}  // namespace wa::http
