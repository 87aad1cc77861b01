// What a send still does once the server answered its stanza. One plain
// struct for the message layer (message::settle_ack) and the sender link
// (done's `relay`, ipc/messages.hpp), so the stanza's hand-off from a sender
// worker to the connection worker needs no conversion on either side.
#pragma once

#include <string>
#include <vector>

namespace wa {

struct AfterAck {
  std::string id;                                  // the message id the ack must name
  std::string dm_peer;                             // a DM: the contact (non-AD JID) a 463 gives our token
  std::string phash;                               // participant hash of the devices addressed
  std::vector<std::string> stale_users;            // their cached device lists go when the server's hash differs
  std::string group;                               // a group send: its JID, and the devices that got
  std::vector<std::string> sender_key_recipients;  // our sender key in this stanza
};

}  // namespace wa
