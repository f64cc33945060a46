// Prometheus exposition with prometheus-cpp (Debian's prometheus-cpp-dev):
// its pull Exposer serves the registry over HTTP on its own thread.
#include "cli/metrics_prometheus.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <stdexcept>

namespace quotamilter::cli {

using filter::Metrics;

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

double unix_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class PrometheusMetrics final : public Metrics {
public:
    explicit PrometheusMetrics(const std::string& listen)
        : registry_(std::make_shared<prometheus::Registry>()),
          refusals_(BuildCounter()
                        .Name("quotamilter_refusals_total")
                        .Help("Messages or recipients a quota refused (or, in monitor mode, would have), by policy and verdict")
                        .Register(*registry_)),
          accepted_(BuildCounter()
                        .Name("quotamilter_messages_accepted_total")
                        .Help("Messages that passed end of message and were charged")
                        .Register(*registry_)
                        .Add({})),
          store_error_answers_(BuildCounter()
                                   .Name("quotamilter_store_error_answers_total")
                                   .Help("Answers given because the store could not answer, by answer (tempfail or accept)")
                                   .Register(*registry_)),
          store_calls_(BuildHistogram()
                           .Name("quotamilter_store_call_seconds")
                           .Help("Store round-trip time, by operation")
                           .Register(*registry_)),
          store_errors_(BuildCounter()
                            .Name("quotamilter_store_errors_total")
                            .Help("Store calls that failed or timed out, by operation")
                            .Register(*registry_)),
          connections_(BuildGauge()
                           .Name("quotamilter_connections")
                           .Help("Milter connections open now")
                           .Register(*registry_)
                           .Add({})),
          reloads_(BuildCounter()
                       .Name("quotamilter_rule_loads_total")
                       .Help("Rule file loads (at start and on SIGUSR1), by result")
                       .Register(*registry_)),
          last_good_load_(BuildGauge()
                              .Name("quotamilter_rules_last_good_load_timestamp_seconds")
                              .Help("Unix time of the last rule file load that passed check")
                              .Register(*registry_)
                              .Add({})) {
        try {
            exposer_ = std::make_unique<prometheus::Exposer>(listen);
        } catch (const std::exception& e) {
            throw std::runtime_error("metrics: cannot listen on " + listen + ": " + e.what());
        }
        exposer_->RegisterCollectable(registry_);
    }

    void refusal(std::string_view policy, std::string_view verdict) override {
        refusals_.Add({{"policy", std::string(policy)}, {"verdict", std::string(verdict)}}).Increment();
    }
    void message_accepted() override { accepted_.Increment(); }
    void store_error_answer(std::string_view answer) override {
        store_error_answers_.Add({{"answer", std::string(answer)}}).Increment();
    }
    void store_call(std::string_view operation, std::chrono::duration<double> elapsed, bool answered) override {
        store_call_series(operation).Observe(elapsed.count());
        if (!answered) store_errors_.Add({{"operation", std::string(operation)}}).Increment();
    }
    void connection_opened() override { connections_.Increment(); }
    void connection_closed() override { connections_.Decrement(); }
    void rules_loaded(bool ok) override {
        reloads_.Add({{"result", ok ? "ok" : "failed"}}).Increment();
        if (ok) last_good_load_.Set(unix_seconds());
    }

private:
    // Family::Add builds a whole Histogram (and the label map) on every call
    // and throws it away when the series exists, under the family's mutex:
    // two store calls per message made that a visible share of the milter's
    // CPU. The series of the operations the store has are looked up once, on
    // first use (so /metrics shows no series before a call, as before), and
    // kept: a Family never drops a series we do not Remove.
    prometheus::Histogram& store_call_series(std::string_view operation) {
        std::atomic<prometheus::Histogram*>* slot = nullptr;
        if (operation == "check") slot = &check_calls_;
        else if (operation == "charge") slot = &charge_calls_;
        if (slot) {
            if (prometheus::Histogram* cached = slot->load(std::memory_order_acquire)) return *cached;
        }
        // 50 µs .. 1 s: a local Redis answers in ~0.1 ms, the default timeout is 250 ms.
        static const prometheus::Histogram::BucketBoundaries kBuckets{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                                      0.005,   0.01,   0.025,   0.05,   0.1,   0.25, 1};
        prometheus::Histogram& series = store_calls_.Add({{"operation", std::string(operation)}}, kBuckets);
        // Racing threads get the same series from Add: storing it twice is harmless.
        if (slot) slot->store(&series, std::memory_order_release);
        return series;
    }

    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Family<prometheus::Counter>& refusals_;
    prometheus::Counter& accepted_;
    prometheus::Family<prometheus::Counter>& store_error_answers_;
    prometheus::Family<prometheus::Histogram>& store_calls_;
    std::atomic<prometheus::Histogram*> check_calls_{nullptr};
    std::atomic<prometheus::Histogram*> charge_calls_{nullptr};
    prometheus::Family<prometheus::Counter>& store_errors_;
    prometheus::Gauge& connections_;
    prometheus::Family<prometheus::Counter>& reloads_;
    prometheus::Gauge& last_good_load_;
    std::unique_ptr<prometheus::Exposer> exposer_;  // last: stops serving before the metrics go
};

}  // namespace

std::unique_ptr<Metrics> make_prometheus_metrics(const std::string& listen) {
    return std::make_unique<PrometheusMetrics>(listen);
}

}  // namespace quotamilter::cli
