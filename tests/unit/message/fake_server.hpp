// A fake server for pipeline tests: usync / prekey / group answers built
// from the other profiles' stores; relayed stanzas are recorded and acked.
#pragma once

#include <map>
#include <optional>

#include "profile.hpp"
#include "temp_dir.hpp"
#include "wa/message/pipeline.hpp"
#include "wa/proto/message.pb.h"

namespace wa::test {

using message::PipelineOptions;
using message::Transport;

inline Bytes conversation(const std::string& text) {
  proto::Message m;
  m.set_conversation(text);
  std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

struct FakeServer {
  std::map<std::string, std::vector<test::Device*>> accounts;  // user jid -> devices
  std::map<std::string, std::vector<std::string>> groups;      // group -> member users
  int usync_queries = 0, prekey_queries = 0, group_queries = 0;
  std::vector<binary::Node> relayed;
  std::vector<std::string> tokens_issued;  // <token jid> of each privacy iq
  std::optional<Error> relay_error;
  std::string ack_error;
  std::string ack_phash;  // `phash` on acks, when set

  // PN user jid -> LID user jid. Queries by LID reach the PN account's
  // devices; answers echo the form asked (as the real server).
  std::map<std::string, std::string> lids;

  void add(test::Device& d) { accounts[d.jid.to_non_ad().str()].push_back(&d); }
  std::string pn_of(const std::string& user) const {
    for (const auto& [pn, lid] : lids)
      if (lid == user) return pn;
    return user;
  }
  // "9222:3@lid" -> "222:3@s.whatsapp.net" when mapped.
  std::string pn_device(const std::string& device) const {
    auto j = binary::Jid::parse(device);
    if (!j || !j->is_lid()) return device;
    auto pn = binary::Jid::parse(pn_of(j->to_non_ad().str()));
    if (!pn) return device;
    pn->device = j->device;
    return pn->str();
  }

  Transport transport() {
    Transport t;
    t.iq = [this](const binary::Node& q) -> Result<binary::Node> {
      binary::Node iq = test::wire(q);
      std::string xmlns(iq.attr_or("xmlns", ""));
      if (xmlns == "usync") {
        ++usync_queries;
        std::vector<test::UsyncEntry> entries;
        for (const auto* u : iq.child("usync")->child("list")->children("user")) {
          std::string jid(u->attr_or("jid", ""));
          test::UsyncEntry e{jid, {}, lids.count(jid) ? lids[jid] : ""};
          for (auto* d : accounts[pn_of(jid)]) e.devices.emplace_back(d->jid.device, d->jid.device != 0);
          entries.push_back(std::move(e));
        }
        return test::usync_response(entries);
      }
      if (xmlns == "encrypt") {
        ++prekey_queries;
        binary::Children users;
        for (const auto* u : iq.child("key")->children("user"))
          for (auto& [user, devs] : accounts)
            for (auto* d : devs)
              if (d->jid.str() == pn_device(std::string(u->attr_or("jid", "")))) {
                binary::Node b = d->bundle_user();
                b.set_attr("jid", std::string(u->attr_or("jid", "")));
                users.push_back(std::move(b));
              }
        return test::prekey_response(std::move(users));
      }
      if (xmlns == "w:g2") {
        ++group_queries;
        std::string gid(iq.attr_or("to", ""));
        binary::Children parts;
        for (const auto& u : groups[gid]) parts.emplace_back("participant", binary::Attrs{{"jid", u}});
        binary::Children g;
        g.emplace_back("group", binary::Attrs{{"id", gid.substr(0, gid.find('@'))}, {"addressing_mode", "pn"}},
                       std::move(parts));
        return binary::Node("iq", {{"type", "result"}, {"id", "x"}}, std::move(g));
      }
      if (xmlns == "privacy") {
        for (const auto* tk : iq.child("tokens")->children("token")) tokens_issued.emplace_back(tk->attr_or("jid", ""));
        return binary::Node("iq", {{"type", "result"}, {"id", std::string(iq.attr_or("id", ""))}});
      }
      return fail("rejected:400", "unexpected iq");
    };
    t.relay = [this](const binary::Node& stanza, const std::string& id) -> Result<binary::Node> {
      if (relay_error) return Unexpected<Error>{*relay_error};
      relayed.push_back(test::wire(stanza));
      binary::Attrs a{{"class", "message"}, {"id", id}, {"from", std::string(stanza.attr_or("to", ""))}, {"t", "1"}};
      if (!ack_error.empty()) a.emplace_back("error", ack_error);
      if (!ack_phash.empty()) a.emplace_back("phash", ack_phash);
      return binary::Node("ack", std::move(a));
    };
    return t;
  }
};

struct Env {
  test::TempDir dir;
  test::Device a1{dir.file("a1.db"), "111:1@s.whatsapp.net"};
  test::Device a2{dir.file("a2.db"), "111:2@s.whatsapp.net"};
  test::Device b0{dir.file("b0.db"), "222@s.whatsapp.net"};
  test::Device b3{dir.file("b3.db"), "222:3@s.whatsapp.net"};
  test::Device c0{dir.file("c0.db"), "333@s.whatsapp.net"};
  FakeServer server;
  int64_t clock = 1700000000;
  PipelineOptions opts;
  Env() {
    for (auto* d : {&a1, &a2, &b0, &b3, &c0}) server.add(*d);
    opts.now = [this] { return clock; };
  }
};


}  // namespace wa::test
