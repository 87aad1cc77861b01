#include "server.hpp"

#include "dispatch.hpp"
#include "media_tls.hpp"
#include "stanza.hpp"
#include "wa/log.hpp"

namespace wa::testserver {

using binary::Node;

Server::Server(uv_loop_t* loop, ServeOptions opts, State state)
    : loop_(loop), opts_(std::move(opts)), state_(std::move(state)), faults_(loop) {}

Server::~Server() { stop(); }

Result<std::unique_ptr<Server>> Server::start(uv_loop_t* loop, ServeOptions opts, State state) {
  std::unique_ptr<Server> s(new Server(loop, std::move(opts), std::move(state)));
  Bytes cert_chain = s->state_.ca().issue_chain(s->state_.server_static().pub, 2);
  ListenOptions listen{s->opts_.host, s->opts_.port, s->opts_.fd_limit, {}, {}};
  if (s->opts_.chat_tls) {
    auto tls = media::ensure_tls(s->opts_.state_dir);
    if (!tls) return Unexpected<Error>{tls.error()};
    listen.tls_cert = tls->leaf_cert;
    listen.tls_key = tls->leaf_key;
  }
  auto transport = Transport::listen(loop, listen, s->state_.server_static(), std::move(cert_chain), *s);
  if (!transport) return Unexpected<Error>{transport.error()};
  s->transport_ = std::move(*transport);
  WA_TRY(s->start_media());

  s->bridge_ = std::make_unique<ipc::LoopBridge>(loop);
  auto sock = ipc::open_socket(ipc::Protocol::rep);
  if (!sock) return Unexpected<Error>{sock.error()};
  WA_TRY(ipc::require_same_uid(*sock));
  Server* raw = s.get();
  auto rep = ipc::RepServer::listen(*s->bridge_, std::move(*sock), admin::socket_url(s->opts_.state_dir),
                                    [raw](std::shared_ptr<ipc::PendingRequest> r) { raw->on_admin(std::move(r)); });
  if (!rep) return Unexpected<Error>{rep.error()};
  s->admin_ = std::move(*rep);
  return s;
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  faults_.stop();
  // Connections first (their on_closed answers pending admin requests),
  // then the admin socket those answers need.
  if (transport_) transport_->stop();
  if (media_) media_->stop();
  sessions_.clear();
  admin_.reset();
  if (bridge_) bridge_->close();
}

std::string Server::next_id() { return "s." + std::to_string(++id_counter_); }

void Server::on_node(Conn& c, const Node& n) {
  // Tags and ids only: never contents (keys, message bodies).
  WA_DEBUG("conn %llu <- %s id=%s type=%s xmlns=%s child=%s", static_cast<unsigned long long>(c.id), n.tag.c_str(),
           std::string(n.attr_or("id", "")).c_str(), std::string(n.attr_or("type", "")).c_str(),
           std::string(n.attr_or("xmlns", "")).c_str(), n.children().empty() ? "" : n.children()[0].tag.c_str());
  auto handler = dispatch::route_stanza(n.tag, c.authed);
  if (!handler) return;  // presence and the like: nothing to answer
  switch (*handler) {
    case dispatch::Stanza::iq: on_iq(c, n); break;
    case dispatch::Stanza::message: on_message(c, n); break;
    case dispatch::Stanza::receipt: on_receipt(c, n); break;
    case dispatch::Stanza::chatstate: on_chatstate(c, n); break;
    case dispatch::Stanza::ack: answered(c, n.attr_or("class", ""), n.attr_or("id", "")); break;
    case dispatch::Stanza::ib:
      if (const Node* b = n.child("offline_batch")) on_offline_batch(c, *b);
      break;
    case dispatch::Stanza::ack_back: send(c, Node("ack", {{"class", n.tag}, {"id", std::string(n.attr_or("id", ""))}})); break;
    case dispatch::Stanza::presence: on_presence(c, n); break;
  }
}

void Server::on_iq(Conn& c, const Node& iq) {
  bool link_code_step = c.pairing.registering && iq.child("link_code_companion_reg") != nullptr;
  auto route = dispatch::route_iq(iq.attr_or("type", ""), iq.attr_or("xmlns", ""), c.authed, link_code_step);
  Node reply;
  if (!route.handler) {
    reply = error_for(iq, route.error_code, std::string(route.error_text));
  } else {
    switch (*route.handler) {
      case dispatch::Iq::client_answer:
        if (!c.pairing.iq_id.empty() && iq.attr_or("id", "") == c.pairing.iq_id) on_pair_device_sign(c, iq);
        return;
      case dispatch::Iq::pong: reply = result_for(iq); break;
      case dispatch::Iq::encrypt: reply = iq_encrypt(c, iq); break;
      case dispatch::Iq::usync: reply = iq_usync(c, iq); break;
      case dispatch::Iq::groups: reply = iq_groups(c, iq); break;
      case dispatch::Iq::md: reply = iq_md(c, iq); break;
      case dispatch::Iq::privacy: reply = iq_privacy(c, iq); break;
      case dispatch::Iq::abt: reply = iq_abt(c, iq); break;
      case dispatch::Iq::media_conn: reply = iq_media_conn(c, iq); break;
      case dispatch::Iq::picture: reply = iq_picture(c, iq); break;
      case dispatch::Iq::blocklist: reply = iq_blocklist(c, iq); break;
      case dispatch::Iq::status: reply = iq_status(c, iq); break;
      case dispatch::Iq::mex: reply = iq_mex(c, iq); break;
    }
  }
  if (!reply.tag.empty()) send(c, reply);  // empty: answered already
}

}  // namespace wa::testserver
