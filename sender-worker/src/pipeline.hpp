// The send pipeline of one conversation: devices -> sessions -> Signal
// encryption -> relay (wa::message::send_message). Every step that needs the
// network is a query to the connection worker, the only process holding the
// account's socket; the Signal state is the profile's store, shared with
// the connection worker under per-operation transactions.
#pragma once

#include <unistd.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "wa/binary/node.hpp"
#include "wa/ipc/links.hpp"
#include "wa/ipc/nng.hpp"
#include "wa/signal/session.hpp"
#include "wa/store/store.hpp"

namespace wa::sender {

using json = nlohmann::json;

class Pipeline {
 public:
  // data_dir may be empty: then each job must carry "data_dir". `store`
  // names the profile's store (wa/store/open.hpp) when it is not the SQLite
  // file under data_dir.
  Pipeline(std::string profile, std::string conversation, std::string data_dir, std::string store = "");
  Status connect(const std::string& url);
  int run();  // until the worker says exit; returns the exit code

 private:
  Result<ipc::link::FromConnection> call(const json& request);
  // Runs one job; returns the "done" message to report.
  json send_job(uint64_t job, const json& payload);
  Result<json> query(uint64_t job, const json& what);
  Status open_store(const std::string& data_dir);

  const pid_t pid_ = ::getpid();  // sent with every request: read once
  std::string profile_;
  std::string conversation_;
  std::string data_dir_;
  std::string store_locator_;
  ipc::Socket sock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<signal::SignalSession> signal_;
};

}  // namespace wa::sender
