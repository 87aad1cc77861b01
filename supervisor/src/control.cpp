#include "control.hpp"

#include <map>
#include <vector>

#include "wa/binary/jid.hpp"
#include "wa/profile.hpp"

namespace wa::supervisor {

using json = nlohmann::json;

namespace {

enum class Kind { string, boolean, profile, count, strings };
struct Field {
  const char* name;
  Kind kind;
  bool required;
  size_t max = 0;  // strings: max bytes (0 = no string limit beyond the request's); counts: max value;
                   // string lists: max items (each item at most kMaxJid bytes)
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
        {"quoted_id", Kind::string, false, 128},
        {"quoted_sender", Kind::string, false, kMaxJid}}},
      // Groups, read receipts and chat state (checked further in validate_chat_command).
      {"group_create",
       {{"profile", Kind::profile, true},
        {"subject", Kind::string, true, kMaxSubject},
        {"participants", Kind::strings, true, kMaxParticipants}}},
      {"group_info", {{"profile", Kind::profile, true}, {"gid", Kind::string, true, kMaxJid}}},
      {"group_add",
       {{"profile", Kind::profile, true},
        {"gid", Kind::string, true, kMaxJid},
        {"participants", Kind::strings, true, kMaxParticipants}}},
      {"group_remove",
       {{"profile", Kind::profile, true},
        {"gid", Kind::string, true, kMaxJid},
        {"participants", Kind::strings, true, kMaxParticipants}}},
      {"read",
       {{"profile", Kind::profile, true},
        {"chat", Kind::string, true, kMaxJid},
        {"ids", Kind::strings, true, kMaxReadIds},
        {"sender", Kind::string, false, kMaxJid}}},
      {"typing",
       {{"profile", Kind::profile, true}, {"chat", Kind::string, true, kMaxJid}, {"state", Kind::string, true, 16}}},
      {"pair_code", {{"profile", Kind::profile, true}, {"phone", Kind::string, true, 20}}},
      {"shutdown", {}},
      // The log level of the whole tree, now (supervisor, workers, new senders).
      {"log_level", {{"level", Kind::string, true, 8}}},
      // Store maintenance of a stopped or failed profile (integrity check; salvage into a new file).
      {"check", {{"profile", Kind::profile, true}}},
      // Forget a profile created at run time (purge: delete its data too).
      {"remove", {{"profile", Kind::profile, true}, {"purge", Kind::boolean, false}}},
      {"recover", {{"profile", Kind::profile, true}}},
      // Replay of the profile's event log: events with seq > since.
      {"events",
       {{"profile", Kind::profile, true},
        {"since", Kind::count, true, size_t{1} << 53},
        {"limit", Kind::count, false, kMaxReplayLimit}}},
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

namespace {

Status validate_group_jid(const std::string& jid) {
  auto parsed = binary::Jid::parse(jid);
  if (!parsed || !parsed->is_group() || parsed->user.empty())
    return fail("invalid_jid", "JID '" + jid + "' is not a group (…@g.us)");
  return {};
}

// A person: a user JID, or (for the author of a message, as `message`
// events report it) one of their devices.
Status validate_person_jid(const std::string& jid, bool device_ok) {
  auto parsed = binary::Jid::parse(jid);
  if (!parsed) return fail("invalid_jid", "JID '" + jid + "': " + parsed.error().message);
  if (!((parsed->is_pn() || parsed->is_lid()) && !parsed->user.empty()))
    return fail("invalid_jid", "JID '" + jid + "' is not a user (…@s.whatsapp.net, …@lid)");
  if (!device_ok && (parsed->device != 0 || parsed->agent != 0))
    return fail("invalid_jid", "JID '" + jid + "' names a device; give the user");
  return {};
}

// Checks beyond field shapes for the group / read / typing commands (and
// send_text's quoted_sender).
Status validate_chat_command(const std::string& cmd, const json& req) {
  auto each_person = [&](const char* field) -> Status {
    for (const auto& j : req[field]) WA_TRY(validate_person_jid(j.get<std::string>(), false));
    return {};
  };
  if (cmd == "send_text" && req.contains("quoted_sender")) {
    WA_TRY(validate_person_jid(req["quoted_sender"].get<std::string>(), true));
    if (!req.contains("quoted_id")) return fail("bad_request", "'quoted_sender' needs 'quoted_id'");
  } else if (cmd == "group_create") {
    WA_TRY(each_person("participants"));
  } else if (cmd == "group_info") {
    WA_TRY(validate_group_jid(req["gid"].get<std::string>()));
  } else if (cmd == "group_add" || cmd == "group_remove") {
    WA_TRY(validate_group_jid(req["gid"].get<std::string>()));
    WA_TRY(each_person("participants"));
  } else if (cmd == "read") {
    const std::string chat = req["chat"].get<std::string>();
    WA_TRY(validate_user_jid(chat));
    if (req.contains("sender")) WA_TRY(validate_person_jid(req["sender"].get<std::string>(), true));
    if (chat.ends_with("@g.us") && !req.contains("sender"))
      return fail("bad_request", "a read receipt in a group needs 'sender' (the messages' author)");
  } else if (cmd == "typing") {
    WA_TRY(validate_user_jid(req["chat"].get<std::string>()));
    const std::string state = req["state"].get<std::string>();
    if (state != "on" && state != "off") return fail("bad_request", "field 'state' must be \"on\" or \"off\"");
  }
  return {};
}

}  // namespace

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
      case Kind::count:
        // Whole numbers only: 3.0 or "3" would be a client bug worth naming.
        if (!v->is_number_unsigned() && !(v->is_number_integer() && v->get<int64_t>() >= 0))
          return fail("bad_request", std::string("field '") + d.name + "' must be a whole number >= 0");
        if (v->get<uint64_t>() > d.max)
          return fail("bad_request", std::string("field '") + d.name + "' is larger than " + std::to_string(d.max));
        break;
      case Kind::strings: {
        if (!v->is_array() || v->empty())
          return fail("bad_request", std::string("field '") + d.name + "' must be a non-empty list of strings");
        if (v->size() > d.max)
          return fail("too_large", std::string("field '") + d.name + "' has more than " + std::to_string(d.max) + " items");
        for (const auto& item : *v) {
          if (!item.is_string() || item.get_ref<const std::string&>().empty())
            return fail("bad_request", std::string("field '") + d.name + "' must hold non-empty strings");
          if (item.get_ref<const std::string&>().size() > kMaxJid)
            return fail("too_large", std::string("an item of '") + d.name + "' is longer than " +
                                         std::to_string(kMaxJid) + " bytes");
        }
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
  WA_TRY(validate_chat_command(cmd, req));
  return cmd;
}

}  // namespace wa::supervisor
