#include "store/redis_store.h"

#include "store/counter_commands.h"
#include "store/no_throw.h"

namespace quotamilter::store {
namespace {

class RedisStore final : public StoreBackend {
public:
    RedisStore(std::unique_ptr<RedisLink> master, const StoreOptions& options, const TestHooks& hooks)
        : master_(std::move(master)), commands_(options, hooks) {}

    Decision check(std::span<const CounterRequest> requests) override {
        return no_throw<Decision>(
            [&] { return commands_.decide(*master_, requests, false, commands_.deadline()); });
    }
    Decision charge(std::span<const CounterRequest> requests) override {
        return no_throw<Decision>(
            [&] { return commands_.decide(*master_, requests, true, commands_.deadline()); });
    }
    Decision charge_with_receipt(std::span<const CounterRequest> requests,
                                 ChargeReceipt& receipt) override {
        return no_throw<Decision>(
            [&] { return commands_.decide(*master_, requests, true, commands_.deadline(), &receipt); });
    }

    bool refund(const ChargeReceipt& receipt) override {
        return no_throw<bool>([&] {
            std::string error;
            return commands_.refund(*master_, receipt.entries, commands_.deadline(), error);
        });
    }

    StatusResult counters_of(const std::string& tracked_value) override {
        return no_throw<StatusResult>([&] {
            RedisLink* const nodes[] = {master_.get()};
            return commands_.counters_of(nodes, tracked_value);
        });
    }

    StatusResult most_loaded(std::size_t max) override {
        return no_throw<StatusResult>([&] {
            RedisLink* const nodes[] = {master_.get()};
            return commands_.most_loaded(nodes, max);
        });
    }

    ResetResult reset(const std::string& tracked_value,
                      const std::optional<std::string>& policy) override {
        return no_throw<ResetResult>([&] {
            RedisLink* const nodes[] = {master_.get()};
            return commands_.reset(nodes, tracked_value, policy);
        });
    }

private:
    std::unique_ptr<RedisLink> master_;
    CounterCommands commands_;
};

}  // namespace

std::unique_ptr<StoreBackend> make_redis_store(std::unique_ptr<RedisLink> master,
                                               const StoreOptions& options, const TestHooks& hooks) {
    return std::make_unique<RedisStore>(std::move(master), options, hooks);
}

}  // namespace quotamilter::store
