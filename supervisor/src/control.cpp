#include "control.hpp"

#include <map>
#include <vector>

#include "wa/binary/jid.hpp"
#include "wa/profile.hpp"

namespace wa::supervisor {

using json = nlohmann::json;

namespace {

enum class Kind { string, boolean, profile };
struct Field {
  const char* name;
  Kind kind;
  bool required;
  size_t max = 0;  // strings: max bytes (0 = no string limit beyond the request's)
};

const std::map<std::string, std::vector<Field>>& commands() {
  static const std::map<std::string, std::vector<Field>> table{
      {"ping", {}},
      {"status", {{"profile", Kind::profile, false}}},
      {"start", {{"profile", Kind::profile, true}, {"create", Kind::boolean, false}}},
      {"stop", {{"profile", Kind::profile, true}}},
      {"restart", {{"profile", Kind::profile, true}}},
      {"send_text",
       {{"profile", Kind::profile, true},
        {"to", Kind::string, true, kMaxJid},
        {"text", Kind::string, true, kMaxTextBytes},
        {"client_id", Kind::string, false, kMaxClientId},
        {"quoted_id", Kind::string, false, 128}}},
      {"pair_code", {{"profile", Kind::profile, true}, {"phone", Kind::string, true, 20}}},
      {"shutdown", {}},
  };
  return table;
}

}  // namespace

Status validate_user_jid(const std::string& jid) {
  auto parsed = binary::Jid::parse(jid);
  if (!parsed) return fail("invalid_jid", "JID '" + jid + "': " + parsed.error().message);
  const binary::Jid& j = *parsed;
  if (j.device != 0 || j.agent != 0)
    return fail("invalid_jid", "JID '" + jid + "' names a device; send to the user");
  if (!(j.is_group() || ((j.is_pn() || j.is_lid()) && !j.user.empty())))
    return fail("invalid_jid", "JID '" + jid + "' is not a user (…@s.whatsapp.net, …@lid) or a group (…@g.us)");
  return {};
}

Result<std::string> validate_request(const json& req) {
  if (!req.is_object()) return fail("bad_request", "request must be a JSON object");
  auto c = req.find("cmd");
  if (c == req.end()) return fail("bad_request", "missing field 'cmd'");
  if (!c->is_string()) return fail("bad_request", "field 'cmd' must be a string");
  std::string cmd = c->get<std::string>();
  auto it = commands().find(cmd);
  if (it == commands().end()) return fail("unknown_command", "unknown command '" + cmd.substr(0, 64) + "'");
  const auto& fields = it->second;
  for (auto f = req.begin(); f != req.end(); ++f) {
    if (f.key() == "cmd") continue;
    bool known = false;
    for (const auto& d : fields) known = known || f.key() == d.name;
    if (!known) return fail("bad_request", "unknown field '" + f.key().substr(0, 64) + "' for '" + cmd + "'");
  }
  for (const auto& d : fields) {
    auto v = req.find(d.name);
    if (v == req.end()) {
      if (d.required) return fail("bad_request", std::string("missing field '") + d.name + "'");
      continue;
    }
    switch (d.kind) {
      case Kind::boolean:
        if (!v->is_boolean()) return fail("bad_request", std::string("field '") + d.name + "' must be true or false");
        break;
      case Kind::profile: {
        if (!v->is_string()) return fail("bad_request", std::string("field '") + d.name + "' must be a string");
        if (auto st = validate_profile_name(v->get_ref<const std::string&>()); !st) return Unexpected<Error>{st.error()};
        break;
      }
      case Kind::string: {
        if (!v->is_string()) return fail("bad_request", std::string("field '") + d.name + "' must be a string");
        const auto& s = v->get_ref<const std::string&>();
        if (s.empty()) return fail("bad_request", std::string("field '") + d.name + "' is empty");
        if (d.max != 0 && s.size() > d.max)
          return fail("too_large", std::string("field '") + d.name + "' is longer than " + std::to_string(d.max) + " bytes");
        break;
      }
    }
  }
  if (cmd == "send_text") WA_TRY(validate_user_jid(req["to"].get<std::string>()));
  return cmd;
}

}  // namespace wa::supervisor
