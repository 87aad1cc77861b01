// Message secrets, polls and edits on the connection worker's side
// (docs/PROTOCOL.md §12.4, docs/CONTROL.md): the `poll`, `vote` and `edit`
// commands become sender jobs (like `react`), `poll_results` reads the
// profile's store; on the receive path, what a decrypted message adds to
// the store (its secret, a poll's options, a vote) and to its event.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "senders.hpp"
#include "wa/message/receive.hpp"
#include "wa/result.hpp"
#include "wa/store/store.hpp"

namespace wa::connection {

class AddonCommands {
 public:
  using Reply = std::function<void(nlohmann::json)>;
  AddonCommands(SenderPool& senders, std::string store_path) : senders_(senders), store_path_(std::move(store_path)) {}

  void poll(const nlohmann::json& args, Reply reply);
  void vote(const nlohmann::json& args, Reply reply);
  void edit(const nlohmann::json& args, Reply reply);
  void poll_results(const nlohmann::json& args, Reply reply);

 private:
  Result<store::Store*> store();
  SenderPool& senders_;
  std::string store_path_;
  std::unique_ptr<store::Store> store_;
};

// Called by the receive path inside the message's savepoint, after the
// message event `ev` is built: keeps the message's secret, and turns a
// poll, a vote or an edit into its own event (`poll`, `poll_vote`,
// `edited`). Returns true when `ev` was made such an event. A vote or an
// encrypted edit that cannot be opened still becomes its event, with
// `error`: the message itself was received.
Result<bool> receive_addons(store::Store& st, const message::Incoming& in, nlohmann::json& ev);

}  // namespace wa::connection
