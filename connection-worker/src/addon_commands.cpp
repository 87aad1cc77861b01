// The poll_results command (addons.hpp).
#include <map>

#include "addons.hpp"
#include "wa/ipc/fields.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/store/sqlite_store.hpp"
#include "wa/store/open.hpp"

namespace wa::connection {

using json = nlohmann::json;

Result<store::Store*> AddonCommands::store() {
  if (!store_) {
    auto st = store::open(store_path_);
    if (!st) return Unexpected<Error>{st.error()};
    store_ = std::move(*st);
  }
  return store_.get();
}

void AddonCommands::poll_results(const json& m, Reply reply) {
  // The supervisor validated the fields; read them without trusting that.
  auto c = ipc::field<std::string>(m, "chat");
  auto i = ipc::field<std::string>(m, "id");
  if (!c || !i) return reply(ipc::error_reply("bad_request", (!c ? c.error() : i.error()).message));
  const std::string& chat = *c;
  const std::string& id = *i;
  auto st = store();
  if (!st) return reply(ipc::error_reply(st.error().code, st.error().message));
  // By the chat as given, else by id alone (the chat may have been named
  // by phone number here and by LID where the poll was stored).
  auto poll = (*st)->poll_get(id, chat);
  if (poll && !*poll) poll = (*st)->poll_get(id, "");
  if (!poll) return reply(ipc::error_reply(poll.error().code, poll.error().message));
  if (!*poll) return reply(ipc::error_reply("unknown_poll", "no poll with this id is known"));
  auto votes = (*st)->poll_votes(id, (*poll)->chat);
  if (!votes) return reply(ipc::error_reply(votes.error().code, votes.error().message));
  std::map<std::string, json> voters_of;
  for (const auto& o : (*poll)->options) voters_of[o] = json::array();
  size_t voted = 0;
  for (const auto& v : *votes) {
    if (!v.options.empty()) ++voted;
    for (const auto& o : v.options)
      if (auto it = voters_of.find(o); it != voters_of.end()) it->second.push_back(v.voter);
  }
  json options = json::array();
  for (const auto& o : (*poll)->options) {
    const json& who = voters_of[o];
    options.push_back({{"name", o}, {"count", who.size()}, {"voters", who}});
  }
  reply(ipc::ok_reply({{"id", id},
                       {"chat", (*poll)->chat},
                       {"sender", (*poll)->sender},
                       {"name", (*poll)->name},
                       {"selectable", (*poll)->selectable},
                       {"options", std::move(options)},
                       {"voters", voted}}));
}

}  // namespace wa::connection
