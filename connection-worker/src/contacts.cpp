// Contacts, presence, block list, about text, profile pictures and logout
// for the control socket (contacts.hpp). Wire forms: wa/message/contacts.hpp.
#include "contacts.hpp"

#include <algorithm>
#include <set>

#include "wa/fs.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/ipc/fields.hpp"
#include "wa/log.hpp"
#include "wa/store/sqlite_store.hpp"
#include "wa/store/open.hpp"

namespace wa::connection {

using json = nlohmann::json;

namespace {

json error_json(const Error& e) { return ipc::error_reply(e.code, e.message); }

Result<binary::Jid> user_field(const json& args, const char* name) {
  auto s = ipc::field<std::string>(args, name);
  if (!s) return fail("bad_request", s.error().message);
  auto j = binary::Jid::parse(*s);
  if (!j || !(j->is_pn() || j->is_lid()) || j->user.empty())
    return fail("invalid_jid", std::string("field '") + name + "' is not a user JID");
  return j->to_non_ad();
}

json blocked_json(const std::vector<message::BlockedEntry>& list) {
  json out = json::array();
  for (const auto& b : list) {
    json e{{"jid", b.jid.str()}};
    if (b.pn) e["pn_jid"] = b.pn->str();
    out.push_back(std::move(e));
  }
  return json{{"blocked", std::move(out)}};
}

}  // namespace

ContactCommands::ContactCommands(uv_loop_t* loop, Client& client, std::string store_path,
                                 std::vector<std::string> media_roots, Event event)
    : loop_(loop),
      client_(client),
      store_path_(std::move(store_path)),
      media_roots_(std::move(media_roots)),
      event_(std::move(event)),
      logout_timer_(loop) {}

uint64_t ContactCommands::now_ms() const { return uv_now(loop_); }

// ---- number check ----

json ContactCommands::number_json(const std::string& asked, const message::ContactAnswer& a, bool cached) const {
  json out{{"number", asked}, {"exists", a.exists}, {"cached", cached}};
  if (a.exists && a.pn) out["jid"] = a.pn->str();
  if (a.exists && a.lid) out["lid"] = a.lid->str();
  return out;
}

void ContactCommands::check_numbers(const json& args, Reply reply) {
  auto it = args.find("numbers");
  if (it == args.end() || !it->is_array() || it->empty())
    return reply(ipc::error_reply("bad_request", "field 'numbers' must be a non-empty list"));
  std::vector<std::string> asked;
  for (const auto& v : *it)
    if (v.is_string()) asked.push_back(v.get<std::string>());
  // What is not cached (or has expired) is asked for, each number once.
  auto missing = std::make_shared<std::vector<std::string>>();
  std::set<std::string> seen;
  std::set<std::string> from_cache;
  const uint64_t now = now_ms();
  for (const auto& n : asked) {
    std::string d = message::phone_digits(n);
    if (d.empty() || !seen.insert(d).second) continue;
    auto c = numbers_.find(d);
    if (c != numbers_.end() && c->second.expires_ms > now) {
      from_cache.insert(d);
      continue;
    }
    missing->push_back(d);
  }
  check_batches(missing, 0, [this, asked, from_cache, reply](Status st) {
    if (!st) return reply(error_json(st.error()));
    json results = json::array();
    for (const auto& n : asked) {
      std::string d = message::phone_digits(n);
      if (d.empty()) {
        results.push_back({{"number", n}, {"exists", false}, {"invalid", true}});
        continue;
      }
      auto c = numbers_.find(d);
      if (c == numbers_.end()) {
        // The server left it out of its answer: not registered, not cached.
        results.push_back({{"number", n}, {"exists", false}, {"cached", false}});
        continue;
      }
      results.push_back(number_json(n, c->second.answer, from_cache.count(d) != 0));
    }
    reply(ipc::ok_reply({{"results", std::move(results)}}));
  });
}

void ContactCommands::check_batches(std::shared_ptr<std::vector<std::string>> missing, size_t from,
                                    std::function<void(Status)> done) {
  if (from >= missing->size()) return done({});
  const size_t n = std::min(kNumberCheckBatch, missing->size() - from);
  std::span<const std::string> batch(missing->data() + from, n);
  auto iq = message::build_contact_query(batch, "ck." + std::to_string(++sid_));
  client_.query(std::move(iq), [this, missing, from, n, done = std::move(done)](Result<binary::Node> r) mutable {
    if (!r) return done(Unexpected<Error>{r.error()});
    auto answers = message::parse_contact_answer(*r);
    if (!answers) return done(Unexpected<Error>{answers.error()});
    const uint64_t now = now_ms();
    if (numbers_.size() > kNumberCheckCacheMax) numbers_.clear();  // a bound, not a policy
    std::unique_ptr<store::Store> st;
    for (auto& a : *answers) {
      // Only what was asked in this batch is believed.
      if (std::find(missing->begin() + static_cast<long>(from), missing->begin() + static_cast<long>(from + n),
                    a.digits) == missing->begin() + static_cast<long>(from + n))
        continue;
      // The PN <-> LID pair the server confirmed serves sends and blocks later.
      if (a.exists && a.pn && a.lid) {
        if (!st) {
          if (auto opened = store::open(store_path_)) st = std::move(*opened);
        }
        if (st) (void)st->put_lid_mapping(a.pn->user, a.lid->user);
      }
      uint64_t ttl = a.exists ? kNumberCheckTtlMs : kNumberCheckNegativeTtlMs;
      numbers_[a.digits] = Cached{a, now + ttl};
    }
    check_batches(missing, from + n, std::move(done));
  }, 0, true);
}

// ---- profile pictures ----

void ContactCommands::picture_get(const json& args, Reply reply) {
  auto s = ipc::field<std::string>(args, "jid");
  auto j = s ? binary::Jid::parse(*s) : Result<binary::Jid>(fail("bad_request", "missing field 'jid'"));
  if (!j || !(j->is_user() || j->is_group())) return reply(ipc::error_reply("invalid_jid", "field 'jid' is not a user or group JID"));
  const bool full = args.value("full", false);
  std::string target = j->to_non_ad().str();
  client_.query(message::build_picture_get(*j, full), [reply, target, full](Result<binary::Node> r) {
    if (!r) return reply(error_json(r.error()));
    auto p = message::parse_picture_answer(*r);
    if (!p) return reply(error_json(p.error()));
    if (!p->found) return reply(ipc::ok_reply({{"jid", target}, {"type", full ? "image" : "preview"}, {"url", nullptr}}));
    reply(ipc::ok_reply({{"jid", target},
                         {"type", p->type.empty() ? (full ? "image" : "preview") : p->type},
                         {"url", p->url},
                         {"id", p->id},
                         {"direct_path", p->direct_path}}));
  }, 0, true);
}

void ContactCommands::picture_set(const json& args, bool remove, Reply reply) {
  Bytes jpeg;
  if (!remove) {
    auto path = ipc::field<std::string>(args, "path");
    if (!path) return reply(ipc::error_reply("bad_request", path.error().message));
    auto real = fs::resolve_under(*path, media_roots_, true);
    if (!real) return reply(error_json(real.error()));
    auto data = fs::read_file(*real, kMaxPictureBytes);
    if (!data) {
      const std::string code = data.error().code == "too_large" ? "too_large" : "file_error";
      return reply(ipc::error_reply(code, data.error().message));
    }
    // A JPEG starts with SOI and a marker; the server takes nothing else.
    if (data->size() < 4 || static_cast<unsigned char>((*data)[0]) != 0xFF ||
        static_cast<unsigned char>((*data)[1]) != 0xD8 || static_cast<unsigned char>((*data)[2]) != 0xFF)
      return reply(ipc::error_reply("unsupported_media", "a profile picture must be a JPEG file"));
    jpeg.assign(data->begin(), data->end());
  }
  client_.query(message::build_picture_set(jpeg), [reply, remove](Result<binary::Node> r) {
    if (!r) return reply(error_json(r.error()));
    if (r->attr_or("type", "") == "error") {
      const binary::Node* e = r->child("error");
      return reply(ipc::error_reply("iq_error:" + std::string(e ? e->attr_or("code", "?") : "?"),
                                    "the server refused the picture"));
    }
    if (remove) return reply(ipc::ok_reply({{"removed", true}}));
    const binary::Node* p = r->child("picture");
    reply(ipc::ok_reply({{"id", p ? std::string(p->attr_or("id", "")) : std::string()}}));
  }, 0, true);
}

// ---- presence ----

void ContactCommands::presence_set(const json& args, Reply reply) {
  auto state = ipc::field<std::string>(args, "state");
  if (!state || (*state != "available" && *state != "unavailable"))
    return reply(ipc::error_reply("bad_request", "field 'state' must be available or unavailable"));
  auto name = ipc::field_or<std::string>(args, "name", "");
  if (!name) return reply(ipc::error_reply("bad_request", name.error().message));
  if (auto st = client_.send_node(message::build_presence(*state == "available", *name)); !st)
    return reply(error_json(st.error()));
  reply(ipc::ok_reply({{"state", *state}}));
}

void ContactCommands::presence_subscribe(const json& args, Reply reply) {
  auto j = user_field(args, "jid");
  if (!j) return reply(error_json(j.error()));
  if (auto st = client_.send_node(message::build_presence_subscribe(*j)); !st) return reply(error_json(st.error()));
  reply(ipc::ok_reply({{"jid", j->str()}}));
}

void ContactCommands::on_presence(const binary::Node& stanza) {
  auto p = message::parse_presence(stanza);
  if (!p) return;  // another kind (a group's count, junk): nothing to tell
  json ev{{"type", "presence"}, {"jid", p->from.str()}, {"state", p->available ? "available" : "unavailable"}};
  if (p->last_seen) ev["last_seen"] = *p->last_seen;
  event_(std::move(ev));
}

// ---- block list ----

void ContactCommands::resolve_for_block(
    const binary::Jid& user, std::function<void(Result<std::pair<binary::Jid, std::optional<binary::Jid>>>)> done) {
  using Pair = std::pair<binary::Jid, std::optional<binary::Jid>>;
  auto st = store::open(store_path_);
  if (user.is_lid()) {
    std::optional<binary::Jid> pn;
    if (st) {
      if (auto p = (*st)->pn_for_lid(user.user); p && *p) {
        if (auto parsed = binary::Jid::parse(**p + "@s.whatsapp.net")) pn = *parsed;
      }
    }
    return done(Pair{user, pn});
  }
  if (st) {
    if (auto l = (*st)->lid_for_pn(user.user); l && *l) {
      if (auto lid = binary::Jid::parse(**l + "@lid")) return done(Pair{*lid, user});
    }
  }
  // Unknown LID: ask the server, as a number check does (and cache it).
  std::vector<std::string> one{user.user};
  client_.query(message::build_contact_query(one, "bl." + std::to_string(++sid_)),
                [user, done = std::move(done)](Result<binary::Node> r) {
                  if (!r) return done(Unexpected<Error>{r.error()});
                  auto answers = message::parse_contact_answer(*r);
                  if (!answers) return done(Unexpected<Error>{answers.error()});
                  for (const auto& a : *answers) {
                    if (a.digits != user.user) continue;
                    if (!a.exists) break;
                    // A server without LIDs (the 2024 one) is told the number.
                    if (!a.lid) return done(Pair{user, std::nullopt});
                    return done(Pair{*a.lid, user});
                  }
                  done(fail("unknown_contact", "the number is not on WhatsApp"));
                }, 0, true);
}

void ContactCommands::block(const json& args, bool block, Reply reply) {
  auto j = user_field(args, "jid");
  if (!j) return reply(error_json(j.error()));
  resolve_for_block(*j, [this, block, reply](Result<std::pair<binary::Jid, std::optional<binary::Jid>>> who) {
    if (!who) return reply(error_json(who.error()));
    auto iq = message::build_blocklist_set(block, who->first, who->first.is_lid() ? who->second : std::nullopt);
    client_.query(std::move(iq), [reply](Result<binary::Node> r) {
      if (!r) return reply(error_json(r.error()));
      auto list = message::parse_blocklist(*r);
      if (!list) return reply(error_json(list.error()));
      reply(ipc::ok_reply(blocked_json(*list)));
    }, 0, true);
  });
}

void ContactCommands::blocklist(Reply reply) {
  client_.query(message::build_blocklist_get(), [reply](Result<binary::Node> r) {
    if (!r) return reply(error_json(r.error()));
    auto list = message::parse_blocklist(*r);
    if (!list) return reply(error_json(list.error()));
    reply(ipc::ok_reply(blocked_json(*list)));
  }, 0, true);
}

bool ContactCommands::on_account_sync(const binary::Node& n) {
  auto changes = message::parse_blocklist_notification(n);
  if (changes.empty()) return false;
  json items = json::array();
  for (const auto& c : changes) items.push_back({{"jid", c.jid}, {"action", c.action}});
  event_({{"type", "blocklist_changed"}, {"items", std::move(items)}});
  return false;  // on to the receive path, which acks it
}

// ---- about text ----

void ContactCommands::about_get(const json& args, Reply reply) {
  auto j = user_field(args, "jid");
  if (!j) return reply(error_json(j.error()));
  std::string who = j->str();
  client_.query(message::build_about_query(*j, "ab." + std::to_string(++sid_)), [reply, who](Result<binary::Node> r) {
    if (!r) return reply(error_json(r.error()));
    auto a = message::parse_about_answer(*r);
    if (!a) return reply(error_json(a.error()));
    json out{{"jid", who}, {"text", a->text ? json(*a->text) : json(nullptr)}};
    if (a->t != 0) out["t"] = a->t;
    reply(ipc::ok_reply(std::move(out)));
  }, 0, true);
}

void ContactCommands::about_set(const json& args, Reply reply) {
  auto text = ipc::field<std::string>(args, "text");
  if (!text) return reply(ipc::error_reply("bad_request", text.error().message));
  client_.query(message::build_about_set(*text), [reply, t = *text](Result<binary::Node> r) {
    if (!r) return reply(error_json(r.error()));
    if (r->attr_or("type", "") == "error") {
      const binary::Node* e = r->child("error");
      return reply(ipc::error_reply("iq_error:" + std::string(e ? e->attr_or("code", "?") : "?"),
                                    "the server refused the about text"));
    }
    reply(ipc::ok_reply({{"text", t}}));
  }, 0, true);
}

bool ContactCommands::on_about_notification(const binary::Node& n) {
  if (auto ch = message::parse_about_notification(n)) {
    json ev{{"type", "about_changed"}, {"jid", ch->jid}, {"text", ch->text}};
    if (ch->t != 0) ev["t"] = ch->t;
    event_(std::move(ev));
  }
  return false;
}

bool ContactCommands::on_picture_notification(const binary::Node& n) {
  if (auto ch = message::parse_picture_notification(n)) {
    json ev{{"type", "picture_changed"}, {"jid", ch->jid}, {"action", ch->action}};
    if (!ch->id.empty()) ev["id"] = ch->id;
    if (!ch->author.empty()) ev["author"] = ch->author;
    event_(std::move(ev));
  }
  return false;
}

// ---- logout ----

void ContactCommands::logout(Reply reply) {
  auto own = binary::Jid::parse(client_.credentials().jid);
  if (!own) return reply(ipc::error_reply("not_connected", "the account is not paired"));
  client_.query(message::build_logout(*own), [this, reply](Result<binary::Node> r) {
    if (!r) return reply(error_json(r.error()));
    if (r->attr_or("type", "") == "error") {
      const binary::Node* e = r->child("error");
      return reply(ipc::error_reply("iq_error:" + std::string(e ? e->attr_or("code", "?") : "?"),
                                    "the server did not unlink the device; nothing was wiped"));
    }
    // The answer first (the link keeps order), then the end of the account.
    reply(ipc::ok_reply({{"logged_out", true}}));
    WA_INFO("logged out at our request: the device is unlinked");
    client_.expect_logout("user_initiated");
    // On the next turn: ending the connection fails every IQ waiter, which
    // must not happen inside one of their handlers.
    logout_timer_.start(0, [this] { client_.logout("user_initiated"); });
  }, 0, true);
}

}  // namespace wa::connection
