// Read receipts and chat state for the control socket, and incoming chat
// state as events. A read receipt is answered on the server's ack (like a
// send); a chat state is fire-and-forget on the wire (the server does not
// ack it), so its answer means "written to the socket".
#include <ctime>
#include <vector>

#include "chat_commands.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/ipc/fields.hpp"
#include "wa/message/chat.hpp"

namespace wa::connection {

using json = nlohmann::json;

namespace {

// The server acks a receipt within seconds or the socket is gone.
constexpr uint64_t kReceiptAckTimeoutMs = 20000;

Result<binary::Jid> chat_field(const json& args) {
  auto it = args.find("chat");
  if (it == args.end() || !it->is_string()) return fail("bad_request", "missing field 'chat'");
  auto j = binary::Jid::parse(it->get<std::string>());
  if (!j || (!j->is_user() && !j->is_group())) return fail("invalid_jid", "field 'chat' is not a user or group JID");
  return j->to_non_ad();
}

}  // namespace

void ChatCommands::read(const json& args, Reply reply) {
  auto chat = chat_field(args);
  if (!chat) return reply(ipc::error_reply(chat.error().code, chat.error().message));
  std::vector<std::string> ids;
  if (args.contains("ids") && args["ids"].is_array())
    for (const auto& v : args["ids"])
      if (v.is_string()) ids.push_back(v.get<std::string>());
  std::optional<binary::Jid> sender;
  if (args.contains("sender")) {
    auto s = args["sender"].is_string() ? binary::Jid::parse(args["sender"].get<std::string>())
                                        : Result<binary::Jid>(fail("bad_request", ""));
    if (!s || !s->is_user()) return reply(ipc::error_reply("invalid_jid", "field 'sender' is not a user JID"));
    sender = *s;
  }
  auto receipt = message::build_read_receipt(*chat, sender, ids, static_cast<int64_t>(std::time(nullptr)));
  if (!receipt) return reply(ipc::error_reply(receipt.error().code, receipt.error().message));
  size_t n = ids.size();
  std::string chat_s = chat->str();
  client_.relay(std::move(*receipt), [reply, n, chat_s](Result<binary::Node> r) {
    if (!r) return reply(ipc::error_reply(r.error().code, r.error().message));
    reply(ipc::ok_reply({{"chat", chat_s}, {"read", n}}));
  }, kReceiptAckTimeoutMs);
}

void ChatCommands::typing(const json& args, Reply reply) {
  auto chat = chat_field(args);
  if (!chat) return reply(ipc::error_reply(chat.error().code, chat.error().message));
  auto state_r = ipc::field_or<std::string>(args, "state", "");
  const std::string state = state_r ? *state_r : "";
  if (state != "on" && state != "off") return reply(ipc::error_reply("bad_request", "field 'state' must be on or off"));
  auto own = binary::Jid::parse(client_.credentials().jid);
  if (!own) return reply(ipc::error_reply("not_connected", "the account is not paired"));
  auto node = message::build_chatstate(*own, *chat, state == "on" ? message::ChatState::composing : message::ChatState::paused);
  if (auto st = client_.send_node(node); !st) return reply(ipc::error_reply(st.error().code, st.error().message));
  reply(ipc::ok_reply({{"chat", chat->str()}, {"state", state}}));
}

void ChatCommands::on_chatstate(const binary::Node& stanza) {
  auto cs = message::parse_chatstate(stanza);
  if (!cs) return;  // nothing to ack: the server does not expect an answer
  event_({{"type", "chatstate"}, {"chat", cs->chat}, {"sender", cs->sender}, {"state", cs->state}});
}

}  // namespace wa::connection
