// Group management for the control socket (w:g2 IQs, Baileys groups.js):
// create, query, add / remove participants. Also where membership changes
// meet the group's sender-key memory.
#include <ctime>
#include <vector>

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
  return out;
}

json error_json(const Error& e) { return ipc::error_reply(e.code, e.message); }

}  // namespace

// For a create or an add: each participant's phone number (LID members) and
// the privacy token it gave us, read once from the store for the request.
// Without a store nothing is added: the server decides as it would.
message::ParticipantExtras ChatCommands::participant_extras() {
  auto opened = store::open_sqlite(store_path_);
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
  auto gid = jid_field(args, "gid");
  if (!gid || !gid->is_group()) return reply(ipc::error_reply("invalid_jid", "field 'gid' is not a group JID"));
  auto users = users_field(args, "participants");
  if (!users) return reply(error_json(users.error()));
  const auto action = add ? message::ParticipantAction::add : message::ParticipantAction::remove;
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
    if (changed) membership_changed(group, add);
    reply(ipc::ok_reply({{"gid", group}, {"participants", std::move(parts)}}));
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
  auto st = store::open_sqlite(store_path_);
  if (!st) {
    WA_WARN("cannot open the store to reset a group's sender-key memory: %s", st.error().code.c_str());
    return;
  }
  if (auto r = message::forget_sender_key_memory(**st, group); !r)
    WA_WARN("cannot reset the sender-key memory of a group: %s", r.error().code.c_str());
}

void ChatCommands::on_group_notification(const binary::Node& stanza) {
  auto from = binary::Jid::parse(stanza.attr_or("from", ""));
  if (!from || !from->is_group()) return;
  for (const auto& c : stanza.children())
    if (c.tag == "add" || c.tag == "remove" || c.tag == "leave")
      membership_changed(from->to_non_ad().str(), c.tag == "add");
}

}  // namespace wa::connection
