#include "store/redis_store.h"

#include "store/counter_commands.h"
#include "store/no_throw.h"

namespace quotamilter::store {
namespace {

class RedisStore final : public QuotaStore {
public:
    RedisStore(std::unique_ptr<RedisLink> master, const StoreOptions& options)
        : master_(std::move(master)), commands_(options) {}

    Decision check(std::span<const CounterRequest> requests) override {
        return no_throw<Decision>(
            [&] { return commands_.decide(*master_, requests, false, commands_.deadline()); });
    }
    Decision charge(std::span<const CounterRequest> requests) override {
        return no_throw<Decision>(
            [&] { return commands_.decide(*master_, requests, true, commands_.deadline()); });
    }

    Outcome refund(const ChargeReceipt& receipt) override {
        return no_throw<Outcome>([&] {
            std::string error;
            return commands_.refund(*master_, receipt.entries, commands_.deadline(), error)
                       ? Outcome::admitted
                       : Outcome::store_error;
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

    Outcome reset(const std::string& tracked_value,
                  const std::optional<std::string>& policy) override {
        return no_throw<Outcome>([&] {
            std::string error;
            bool truncated = false;
            const bool ok = commands_.reset(*master_, tracked_value, policy, truncated, error);
            return ok && !truncated ? Outcome::admitted : Outcome::store_error;
        });
    }

private:
    std::unique_ptr<RedisLink> master_;
    CounterCommands commands_;
};

}  // namespace

std::unique_ptr<QuotaStore> make_redis_store(std::unique_ptr<RedisLink> master,
                                             const StoreOptions& options) {
    return std::make_unique<RedisStore>(std::move(master), options);
}

}  // namespace quotamilter::store
