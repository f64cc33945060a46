// Times every hot-path store call (check, charge) into Metrics, without the
// filter core knowing. The admin operations (store/counter_admin.h) are not
// the filter core's and are not measured.
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
