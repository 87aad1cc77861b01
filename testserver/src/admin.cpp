#include "admin.hpp"

#include <charconv>

#include "wa/binary/jid.hpp"

namespace wa::testserver::admin {

std::string socket_url(const std::string& state_dir) { return "ipc://" + state_dir + "/admin.sock"; }

Status check_phone(const std::string& phone) {
  if (phone.size() < 5 || phone.size() > 20) return fail("bad_phone", "phone number must have 5 to 20 digits");
  for (char c : phone)
    if (c < '0' || c > '9') return fail("bad_phone", "phone number must be digits only");
  return {};
}

namespace {

Result<uint32_t> number(const std::string& s, const char* what, uint32_t max) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > max)
    return fail("bad_fault", std::string(what) + " must be a number up to " + std::to_string(max));
  return v;
}

const char* action_name(FaultAction a) {
  switch (a) {
    case FaultAction::close: return "close";
    case FaultAction::malformed_frame: return "malformed-frame";
    case FaultAction::stream_error: return "stream-error";
    case FaultAction::drop_acks: return "drop-acks";
    case FaultAction::delay_acks: return "delay-acks";
    case FaultAction::refuse_login: return "refuse-login";
    case FaultAction::omit_pn: return "omit-pn";
    case FaultAction::clear: return "clear";
  }
  return "?";
}

Result<FaultAction> action_from(const std::string& s) {
  for (auto a : {FaultAction::close, FaultAction::malformed_frame, FaultAction::stream_error, FaultAction::drop_acks,
                 FaultAction::delay_acks, FaultAction::refuse_login, FaultAction::omit_pn, FaultAction::clear})
    if (s == action_name(a)) return a;
  return fail("bad_fault", "unknown fault '" + s +
                               "' (close, malformed-frame, stream-error, drop-acks, delay-acks, refuse-login, omit-pn, clear)");
}

}  // namespace

Result<json> fault_request(const std::string& jid, const std::string& phone, const std::vector<std::string>& words) {
  if (words.empty()) return fail("bad_fault", "missing fault action");
  auto action = action_from(words[0]);
  if (!action) return Unexpected<Error>{action.error()};
  json req{{"cmd", "fault"}, {"action", words[0]}};
  if (!jid.empty()) req["jid"] = jid;
  if (!phone.empty()) req["phone"] = phone;
  auto need = [&](size_t n) -> Status {
    if (words.size() != n + 1)
      return fail("bad_fault", words[0] + " takes " + std::to_string(n) + " argument" + (n == 1 ? "" : "s"));
    return {};
  };
  switch (*action) {
    case FaultAction::close:
    case FaultAction::malformed_frame:
    case FaultAction::omit_pn:
    case FaultAction::clear: WA_TRY(need(0)); break;
    case FaultAction::stream_error: WA_TRY(need(1)); req["code"] = words[1]; break;
    case FaultAction::drop_acks: {
      WA_TRY(need(1));
      auto n = number(words[1], "N", 1000000);
      if (!n) return Unexpected<Error>{n.error()};
      req["n"] = *n;
      break;
    }
    case FaultAction::delay_acks: {
      WA_TRY(need(2));
      auto n = number(words[1], "N", 1000000);
      if (!n) return Unexpected<Error>{n.error()};
      auto ms = number(words[2], "MS", 600000);
      if (!ms) return Unexpected<Error>{ms.error()};
      req["n"] = *n;
      req["ms"] = *ms;
      break;
    }
    case FaultAction::refuse_login: WA_TRY(need(1)); req["reason"] = words[1]; break;
  }
  auto checked = parse_fault(req);
  if (!checked) return Unexpected<Error>{checked.error()};
  return req;
}

Result<Fault> parse_fault(const json& req) {
  if (!req.is_object()) return fail("bad_request", "request must be an object");
  Fault f;
  auto str = [&](const char* k) -> std::string {
    auto it = req.find(k);
    return it != req.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto action = action_from(str("action"));
  if (!action) return Unexpected<Error>{action.error()};
  f.action = *action;
  f.jid = str("jid");
  f.phone = str("phone");
  if (!f.jid.empty()) {
    auto j = binary::Jid::parse(f.jid);
    if (!j || !(j->is_pn() || j->is_lid()) || j->user.empty()) return fail("bad_fault", "--jid must be a user or device JID");
  }
  if (!f.phone.empty()) WA_TRY(check_phone(f.phone));
  if (f.jid.empty() && f.phone.empty()) return fail("bad_fault", "give --jid or --phone");
  if (f.action == FaultAction::refuse_login && f.phone.empty()) {
    auto j = binary::Jid::parse(f.jid);
    if (j) f.phone = j->user;
  }
  auto num = [&](const char* k, uint32_t max) -> Result<uint32_t> {
    auto it = req.find(k);
    if (it == req.end() || !it->is_number_unsigned() || it->get<uint64_t>() > max)
      return fail("bad_fault", std::string(k) + " must be a number up to " + std::to_string(max));
    return static_cast<uint32_t>(it->get<uint64_t>());
  };
  switch (f.action) {
    case FaultAction::stream_error: {
      f.stream_error = str("code");
      if (f.stream_error == "401") f.stream_error = "device_removed";
      if (f.stream_error == "conflict") f.stream_error = "replaced";
      if (f.stream_error != "515" && f.stream_error != "device_removed" && f.stream_error != "replaced" &&
          f.stream_error != "503")
        return fail("bad_fault", "stream-error takes 515, device_removed (401), replaced (conflict) or 503");
      break;
    }
    case FaultAction::drop_acks: {
      auto n = num("n", 1000000);
      if (!n) return Unexpected<Error>{n.error()};
      f.n = *n;
      break;
    }
    case FaultAction::delay_acks: {
      auto n = num("n", 1000000);
      if (!n) return Unexpected<Error>{n.error()};
      auto ms = num("ms", 600000);
      if (!ms) return Unexpected<Error>{ms.error()};
      f.n = *n;
      f.ms = *ms;
      break;
    }
    case FaultAction::refuse_login: {
      f.reason = str("reason");
      auto r = number(f.reason, "REASON", 999);
      if (!r) return fail("bad_fault", "refuse-login takes a numeric failure reason (e.g. 401, 403, 405, 503)");
      break;
    }
    default: break;
  }
  return f;
}

}  // namespace wa::testserver::admin
