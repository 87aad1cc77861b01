// Group management for the control socket (w:g2 IQs, Baileys groups.js):
// create, query, add / remove participants. Also where membership changes
// meet the group's sender-key memory.
#include <ctime>
#include <vector>

#include "wa/store/open.hpp"
#include "chat_commands.hpp"

#include <memory>

#include "wa/message/lid.hpp"
#include "wa/message/tctoken.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/log.hpp"
#include "wa/message/group.hpp"
#include "wa/message/id.hpp"
#include "wa/message/send.hpp"
#include "wa/store/sqlite_store.hpp"

namespace wa::connection {

using json = nlohmann::json;

namespace {

// Control fields were validated by the supervisor; a worker reached some
// other way still gets a clear error rather than an exception.
Result<binary::Jid> jid_field(const json& args, const char* name) {
  auto it = args.find(name);
  if (it == args.end() || !it->is_string()) return fail("bad_request", std::string("missing field '") + name + "'");
  auto j = binary::Jid::parse(it->get<std::string>());
  if (!j) return fail("invalid_jid", std::string("field '") + name + "' is not a JID");
  return *j;
}

Result<std::vector<binary::Jid>> users_field(const json& args, const char* name) {
  auto it = args.find(name);
  if (it == args.end() || !it->is_array() || it->empty())
    return fail("bad_request", std::string("field '") + name + "' must be a non-empty list");
  std::vector<binary::Jid> out;
  for (const auto& v : *it) {
    auto j = v.is_string() ? binary::Jid::parse(v.get<std::string>()) : Result<binary::Jid>(fail("bad_request", ""));
    if (!j || !j->is_user()) return fail("invalid_jid", std::string("field '") + name + "' holds a non-user JID");
    out.push_back(j->to_non_ad());
  }
  return out;
}

json group_json(const message::GroupInfo& g) {
  json parts = json::array();
  for (const auto& m : g.members) {
    json p{{"jid", m.jid.str()}, {"admin", m.admin()}, {"type", m.type.empty() ? "member" : m.type}};
    // Both identities, as events carry them (docs/CONTROL.md).
    if (m.alt) p[m.alt->is_pn() ? "jid_pn" : "jid_lid"] = m.alt->str();
    parts.push_back(std::move(p));
  }
  json out{{"gid", g.id.str()}, {"subject", g.subject}, {"participants", std::move(parts)}};
  if (!g.creator.empty()) out["creator"] = g.creator;
  if (!g.creator_pn.empty()) out["creator_pn"] = g.creator_pn;
  if (!g.addressing_mode.empty()) out["addressing_mode"] = g.addressing_mode;
  if (!g.description.empty()) out["description"] = g.description;
  out["announce"] = g.announce;
  out["locked"] = g.locked;
  return out;
}

json error_json(const Error& e) { return ipc::error_reply(e.code, e.message); }

}  // namespace

// For a create or an add: each participant's phone number (LID members) and
// the privacy token it gave us, read once from the store for the request.
// Without a store nothing is added: the server decides as it would.
message::ParticipantExtras ChatCommands::participant_extras() {
  auto opened = store::open(store_path_);
  if (!opened) {
    WA_WARN("participants without tokens: the store did not open (%s)", opened.error().code.c_str());
    return {};
  }
  std::shared_ptr<store::Store> st(std::move(*opened));
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  return [st, now](const binary::Jid& p) {
    message::ParticipantExtra x;
    if (auto alt = message::alternate_user(*st, p.to_non_ad()); alt && *alt && (*alt)->is_pn()) x.phone_number = **alt;
    if (auto tok = message::tctoken::valid_token_for(*st, p, now); tok && *tok) x.privacy = std::move(**tok);
    return x;
  };
}

ChatCommands::ChatCommands(Client& client, std::string store_path, Event event)
    : client_(client), store_path_(std::move(store_path)), event_(std::move(event)) {}

void ChatCommands::group_create(const json& args, Reply reply) {
  auto users = users_field(args, "participants");
  if (!users) return reply(error_json(users.error()));
  if (!args.contains("subject") || !args["subject"].is_string() || args["subject"].get<std::string>().empty())
    return reply(ipc::error_reply("bad_request", "missing field 'subject'"));
  auto own = binary::Jid::parse(client_.credentials().jid);
  if (!own) return reply(ipc::error_reply("not_connected", "the account is not paired"));
  // The server de-duplicates creates by this key, like a message id.
  std::string key = message::generate_message_id(own->user, static_cast<int64_t>(std::time(nullptr)));
  auto iq = message::build_group_create(args["subject"].get<std::string>(), *users, key, "", participant_extras());
  client_.query(std::move(iq), [reply](Result<binary::Node> r) {
    if (!r) return reply(error_json(r.error()));
    auto info = message::parse_group_info(*r);
    if (!info) return reply(error_json(info.error()));
    reply(ipc::ok_reply(group_json(*info)));
  }, 0, true);
}

void ChatCommands::group_info(const json& args, Reply reply) {
  auto gid = jid_field(args, "gid");
  if (!gid || !gid->is_group()) return reply(ipc::error_reply("invalid_jid", "field 'gid' is not a group JID"));
  client_.query(message::build_group_info_query(*gid, ""), [reply](Result<binary::Node> r) {
    if (!r) return reply(error_json(r.error()));
    auto info = message::parse_group_info(*r);
    if (!info) return reply(error_json(info.error()));
    reply(ipc::ok_reply(group_json(*info)));
  }, 0, true);
}

void ChatCommands::group_change(const json& args, bool add, Reply reply) {
  participants_change(args, add ? message::ParticipantAction::add : message::ParticipantAction::remove, std::move(reply));
}

void ChatCommands::group_role(const json& args, bool promote, Reply reply) {
  participants_change(args, promote ? message::ParticipantAction::promote : message::ParticipantAction::demote,
                      std::move(reply));
}

void ChatCommands::participants_change(const json& args, message::ParticipantAction action, Reply reply) {
  auto gid = jid_field(args, "gid");
  if (!gid || !gid->is_group()) return reply(ipc::error_reply("invalid_jid", "field 'gid' is not a group JID"));
  auto users = users_field(args, "participants");
  if (!users) return reply(error_json(users.error()));
  const bool add = action == message::ParticipantAction::add;
  auto iq = message::build_participants_change(*gid, action, *users, "",
                                               add ? participant_extras() : message::ParticipantExtras{});
  std::string group = gid->to_non_ad().str();
  client_.query(std::move(iq), [this, reply, action, add, group, requested = *users](Result<binary::Node> r) {
    if (!r) return reply(error_json(r.error()));
    auto results = message::parse_participants_change(*r, action, requested);
    if (!results) return reply(error_json(results.error()));
    json parts = json::array();
    bool changed = false;
    for (const auto& p : *results) {
      parts.push_back({{"jid", p.jid}, {"status", p.status}});
      changed = changed || p.status == "200";
    }
    if (changed && (add || action == message::ParticipantAction::remove)) membership_changed(group, add);
    reply(ipc::ok_reply({{"gid", group}, {"participants", std::move(parts)}}));
  }, 0, true);
}

void ChatCommands::simple_change(binary::Node iq, const char* what, json ok, Reply reply) {
  client_.query(std::move(iq), [reply, what, ok = std::move(ok)](Result<binary::Node> r) {
    if (!r) return reply(error_json(r.error()));
    if (auto st = message::check_group_result(*r, what); !st) return reply(error_json(st.error()));
    reply(ipc::ok_reply(ok));
  }, 0, true);
}

void ChatCommands::group_subject(const json& args, Reply reply) {
  auto gid = jid_field(args, "gid");
  if (!gid || !gid->is_group()) return reply(ipc::error_reply("invalid_jid", "field 'gid' is not a group JID"));
  if (!args.contains("subject") || !args["subject"].is_string() || args["subject"].get<std::string>().empty())
    return reply(ipc::error_reply("bad_request", "missing field 'subject'"));
  const std::string subject = args["subject"].get<std::string>();
  simple_change(message::build_group_subject(*gid, subject, ""), "subject change",
                {{"gid", gid->to_non_ad().str()}, {"subject", subject}}, std::move(reply));
}

// The server keeps one description id per group and wants the current one
// as `prev` (Baileys and whatsmeow read it from the metadata first), so a
// change is two round trips: the metadata, then the change.
void ChatCommands::group_description(const json& args, Reply reply) {
  auto gid = jid_field(args, "gid");
  if (!gid || !gid->is_group()) return reply(ipc::error_reply("invalid_jid", "field 'gid' is not a group JID"));
  std::string text;
  if (auto it = args.find("description"); it != args.end()) {
    if (!it->is_string()) return reply(ipc::error_reply("bad_request", "field 'description' must be a string"));
    text = it->get<std::string>();
  }
  auto own = binary::Jid::parse(client_.credentials().jid);
  if (!own) return reply(ipc::error_reply("not_connected", "the account is not paired"));
  std::string new_id = message::generate_message_id(own->user, static_cast<int64_t>(std::time(nullptr)));
  binary::Jid group = gid->to_non_ad();
  client_.query(message::build_group_info_query(group, ""),
                [this, reply, group, text, new_id](Result<binary::Node> r) {
                  if (!r) return reply(error_json(r.error()));
                  auto info = message::parse_group_info(*r);
                  if (!info) return reply(error_json(info.error()));
                  simple_change(message::build_group_description(group, text, new_id, info->description_id, ""),
                                "description change", {{"gid", group.str()}, {"description", text}}, reply);
                }, 0, true);
}

void ChatCommands::group_settings(const json& args, Reply reply) {
  auto gid = jid_field(args, "gid");
  if (!gid || !gid->is_group()) return reply(ipc::error_reply("invalid_jid", "field 'gid' is not a group JID"));
  const std::string setting = args.value("setting", "");
  const std::string state = args.value("state", "");
  if ((setting != "announce" && setting != "locked") || (state != "on" && state != "off"))
    return reply(ipc::error_reply("bad_request", "setting must be announce|locked and state on|off"));
  const auto s = setting == "announce" ? message::GroupSetting::announce : message::GroupSetting::locked;
  simple_change(message::build_group_setting(*gid, s, state == "on", ""), "settings change",
                {{"gid", gid->to_non_ad().str()}, {"setting", setting}, {"state", state}}, std::move(reply));
}

void ChatCommands::group_leave(const json& args, Reply reply) {
  auto gid = jid_field(args, "gid");
  if (!gid || !gid->is_group()) return reply(ipc::error_reply("invalid_jid", "field 'gid' is not a group JID"));
  simple_change(message::build_group_leave(*gid, ""), "leave", {{"gid", gid->to_non_ad().str()}, {"left", true}},
                std::move(reply));
}

void ChatCommands::group_invite(const json& args, bool revoke, Reply reply) {
  auto gid = jid_field(args, "gid");
  if (!gid || !gid->is_group()) return reply(ipc::error_reply("invalid_jid", "field 'gid' is not a group JID"));
  std::string group = gid->to_non_ad().str();
  client_.query(message::build_invite_code_query(*gid, revoke, ""), [reply, group](Result<binary::Node> r) {
    if (!r) return reply(error_json(r.error()));
    auto code = message::parse_invite_code(*r);
    if (!code) return reply(error_json(code.error()));
    reply(ipc::ok_reply({{"gid", group}, {"code", *code}, {"link", std::string(message::kInviteLinkPrefix) + *code}}));
  }, 0, true);
}

void ChatCommands::group_join(const json& args, Reply reply) {
  auto it = args.find("invite");
  auto code = it != args.end() && it->is_string() ? message::invite_code_from(it->get<std::string>()) : std::nullopt;
  if (!code) return reply(ipc::error_reply("invalid_invite", "not an invite code or https://chat.whatsapp.com/ link"));
  client_.query(message::build_invite_join(*code, ""), [this, reply](Result<binary::Node> r) {
    if (!r) return reply(error_json(r.error()));
    auto gid = message::parse_invite_join(*r);
    if (!gid) return reply(error_json(gid.error()));
    // We are a new member: whoever holds our sender key must be learnt again.
    membership_changed(gid->str(), true);
    reply(ipc::ok_reply({{"gid", gid->str()}}));
  }, 0, true);
}

// Who holds our sender key is tracked per group ("skmem:<group>", see
// wa/message/send.hpp). After an add the memory is forgotten, so the next
// send hands the key to every member device again (the newcomers' devices
// among them). After a removal the memory is deliberately kept: the next
// send finds a remembered user who is no longer a member and rotates the key
// inside its own encrypt transaction; forgetting the memory here would hide
// the removal and let the removed member keep reading.
void ChatCommands::membership_changed(const std::string& group, bool added) {
  if (!added) return;
  // Opened per use: membership changes are rare, not worth a connection (and
  // its page cache) for the worker's life.
  auto st = store::open(store_path_);
  if (!st) {
    WA_WARN("cannot open the store to reset a group's sender-key memory: %s", st.error().code.c_str());
    return;
  }
  if (auto r = message::forget_sender_key_memory(**st, group); !r)
    WA_WARN("cannot reset the sender-key memory of a group: %s", r.error().code.c_str());
}

// Each change of a w:gp2 notification becomes a `group_update` event
// (docs/CONTROL.md). Both identities of the author and of each participant
// go with it: from the stanza where it names them, else from the store's
// mapping, so a consumer keyed by phone number keeps working in LID groups.
void ChatCommands::on_group_notification(const binary::Node& stanza) {
  auto parsed = message::parse_group_notification(stanza);
  if (!parsed) {
    WA_WARN("group notification ignored: %s", parsed.error().code.c_str());
    return;
  }
  const message::GroupNotification& n = *parsed;
  const std::string group = n.group.str();
  for (const auto& c : n.changes)
    if (c.action == "add" || c.action == "remove" || c.action == "leave") membership_changed(group, c.action == "add");

  std::unique_ptr<store::Store> st;
  if (auto opened = store::open(store_path_)) st = std::move(*opened);
  auto with_alt = [&](json& obj, const char* key, const binary::Jid& jid, const std::optional<binary::Jid>& alt) {
    obj[key] = jid.str();
    std::optional<binary::Jid> other = alt;
    if (!other && st)
      if (auto a = message::alternate_user(*st, jid); a && *a) other = std::move(**a);
    if (other && other->is_pn() != jid.is_pn()) obj[std::string(key) + (other->is_pn() ? "_pn" : "_lid")] = other->str();
  };
  for (const auto& c : n.changes) {
    json ev{{"type", "group_update"}, {"gid", group}, {"action", c.action}, {"t", n.t}};
    if (!n.id.empty()) ev["id"] = n.id;
    if (n.author) with_alt(ev, "author", *n.author, n.author_alt);
    if (!c.participants.empty() || c.action == "add" || c.action == "remove" || c.action == "leave" ||
        c.action == "promote" || c.action == "demote") {
      json parts = json::array();
      for (const auto& m : c.participants) {
        json p = json::object();
        with_alt(p, "jid", m.jid, m.alt);
        if (!m.type.empty()) p["type"] = m.type;
        parts.push_back(std::move(p));
      }
      ev["participants"] = std::move(parts);
    }
    if (c.subject) ev["subject"] = *c.subject;
    if (c.description) ev["description"] = *c.description;
    if (c.on) ev["state"] = *c.on ? "on" : "off";
    if (!c.code.empty()) {
      ev["code"] = c.code;
      ev["link"] = std::string(message::kInviteLinkPrefix) + c.code;
    }
    if (!c.reason.empty()) ev["reason"] = c.reason;
    event_(std::move(ev));
  }
}

}  // namespace wa::connection
