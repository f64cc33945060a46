// What the milter reports for graphs and alerts. The filter core and the
// store calls report events here; cli/metrics_prometheus.h serves them as
// Prometheus text on a loopback address, `NoMetrics` drops them.
#pragma once

#include "store/quota_store.h"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace quotamilter::filter {

class Metrics {
public:
    virtual ~Metrics() = default;

    // A quota decided a message or recipient: verdict is "reject", "tempfail",
    // "quarantine", "discard", or "would_reject" etc. in monitor mode.
    virtual void refusal(std::string_view policy, std::string_view verdict) = 0;
    // A message passed end of message and was charged.
    virtual void message_accepted() = 0;
    // The store could not answer; the message got on_store_error's answer.
    virtual void store_error_answer(std::string_view answer) = 0;
    // One store round trip ("check" or "charge") and whether it answered.
    virtual void store_call(std::string_view operation, std::chrono::duration<double> elapsed, bool answered) = 0;
    virtual void connection_opened() = 0;
    virtual void connection_closed() = 0;
    // A rule file (re)load; `ok` false when it failed check and the old rules stayed.
    virtual void rules_loaded(bool ok) = 0;
};

class NoMetrics final : public Metrics {
public:
    void refusal(std::string_view, std::string_view) override {}
    void message_accepted() override {}
    void store_error_answer(std::string_view) override {}
    void store_call(std::string_view, std::chrono::duration<double>, bool) override {}
    void connection_opened() override {}
    void connection_closed() override {}
    void rules_loaded(bool) override {}
};

// A QuotaStore that times every call of `inner` into `metrics`.
std::unique_ptr<store::QuotaStore> measure_store_calls(store::QuotaStore& inner, Metrics& metrics);

}  // namespace quotamilter::filter
