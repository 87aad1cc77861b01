// The control commands that act on the account's chats through its socket
// rather than through a sender: group management (groups.cpp) and read
// receipts / chat state (chatstate.cpp). Each answers once: with the
// server's answer, or at once with not_connected / bad_request.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "client.hpp"
#include "wa/binary/node.hpp"
#include "wa/message/group.hpp"

namespace wa::connection {

class ChatCommands {
 public:
  using Reply = std::function<void(nlohmann::json)>;
  using Event = std::function<void(nlohmann::json)>;

  // `store_path`: the profile's store, for the group sender-key memory.
  // `event`: public events (chatstate).
  ChatCommands(Client& client, std::string store_path, Event event);

  // The control commands (the worker's handler table calls them while the
  // account is logged in); `args` are the validated fields (without cmd /
  // profile). groups.cpp:
  void group_create(const nlohmann::json& args, Reply reply);
  void group_info(const nlohmann::json& args, Reply reply);
  void group_change(const nlohmann::json& args, bool add, Reply reply);
  void group_role(const nlohmann::json& args, bool promote, Reply reply);
  void group_subject(const nlohmann::json& args, Reply reply);
  void group_description(const nlohmann::json& args, Reply reply);
  void group_settings(const nlohmann::json& args, Reply reply);
  void group_leave(const nlohmann::json& args, Reply reply);
  void group_invite(const nlohmann::json& args, bool revoke, Reply reply);
  void group_join(const nlohmann::json& args, Reply reply);
  // chatstate.cpp:
  void read(const nlohmann::json& args, Reply reply);
  void typing(const nlohmann::json& args, Reply reply);

  // Rows of the stanza table (registered by the worker): a <chatstate>
  // becomes a `chatstate` event; a w:gp2 notification becomes one
  // `group_update` event per change and, for membership changes, updates
  // the sender-key memory (the receive path still acks it).
  void on_chatstate(const binary::Node& stanza);
  void on_group_notification(const binary::Node& stanza);

 private:
  // groups.cpp
  void membership_changed(const std::string& group, bool added);
  void participants_change(const nlohmann::json& args, message::ParticipantAction action, Reply reply);
  // An IQ whose answer carries nothing: `ok` is the reply on success.
  void simple_change(binary::Node iq, const char* what, nlohmann::json ok, Reply reply);

  Client& client_;
  std::string store_path_;
  message::ParticipantExtras participant_extras();
  Event event_;
};

}  // namespace wa::connection
