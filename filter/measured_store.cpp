// Times every store call into Metrics, without the filter core knowing.
#include "filter/metrics.h"

#include <chrono>

namespace quotamilter::filter {

namespace {

class MeasuredStore final : public store::QuotaStore {
public:
    MeasuredStore(store::QuotaStore& inner, Metrics& metrics) : inner_(inner), metrics_(metrics) {}

    store::Decision check(std::span<const store::CounterRequest> requests) override {
        return timed("check", [&] { return inner_.check(requests); });
    }
    store::Decision charge(std::span<const store::CounterRequest> requests) override {
        return timed("charge", [&] { return inner_.charge(requests); });
    }
    store::Outcome refund(const store::ChargeReceipt& receipt) override {
        const auto start = std::chrono::steady_clock::now();
        const store::Outcome outcome = inner_.refund(receipt);
        metrics_.store_call("refund", std::chrono::steady_clock::now() - start, outcome != store::Outcome::store_error);
        return outcome;
    }
    store::StatusResult counters_of(const std::string& tracked_value) override { return inner_.counters_of(tracked_value); }
    store::StatusResult most_loaded(std::size_t max) override { return inner_.most_loaded(max); }
    store::Outcome reset(const std::string& tracked_value, const std::optional<std::string>& policy) override {
        return inner_.reset(tracked_value, policy);
    }

private:
    template <typename Call>
    store::Decision timed(std::string_view operation, Call call) {
        const auto start = std::chrono::steady_clock::now();
        store::Decision decision = call();
        metrics_.store_call(operation, std::chrono::steady_clock::now() - start,
                            decision.outcome != store::Outcome::store_error);
        return decision;
    }

    store::QuotaStore& inner_;
    Metrics& metrics_;
};

}  // namespace

std::unique_ptr<store::QuotaStore> measure_store_calls(store::QuotaStore& inner, Metrics& metrics) {
    return std::make_unique<MeasuredStore>(inner, metrics);
}

}  // namespace quotamilter::filter
