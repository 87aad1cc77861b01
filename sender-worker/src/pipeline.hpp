// The send pipeline of one conversation: devices -> sessions -> Signal
// encryption -> relay. Every step that needs the network is a query to the
// connection worker, the only process holding the account's socket.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "wa/ipc/nng.hpp"

namespace wa::sender {

using json = nlohmann::json;

class Pipeline {
 public:
  Pipeline(std::string profile, std::string conversation);
  Status connect(const std::string& url);
  int run();  // until the worker says exit; returns the exit code

 private:
  Result<json> call(const json& request);
  // Runs one job; returns the "done" message to report.
  json send_job(uint64_t job, const json& payload);
  Result<json> query(uint64_t job, const json& what);

  std::string profile_;
  std::string conversation_;
  ipc::Socket sock_;
};

}  // namespace wa::sender
