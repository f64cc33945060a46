// The master of a Sentinel-watched Redis (redis+sentinel://…): asks the
// Sentinels where the master is (SENTINEL get-master-addr-by-name), checks
// with ROLE that it is one, and sends commands to a RedisPool on it. A
// connection failure or a READONLY reply (a master demoted by a failover)
// makes it ask again, at most every `min_resolve_interval`, within the
// caller's deadline; a new master gets a fresh pool.
#pragma once

#include <memory>
#include <mutex>
#include <optional>

#include "store/redis_link.h"
#include "store/redis_pool.h"
#include "store/redis_url.h"

namespace quotamilter::store {

class SentinelLink final : public RedisLink {
public:
    SentinelLink(RedisTopology topology, std::chrono::milliseconds timeout, std::size_t pool_size);

    bool run(std::span<const RedisCommand> commands, std::vector<ReplyPtr>& replies,
             Deadline deadline, std::string& error) override;

    // How often the Sentinels are asked at most while the master fails.
    static constexpr std::chrono::milliseconds min_resolve_interval{100};

private:
    struct Master {
        RedisAddress address;
        std::shared_ptr<RedisPool> pool;
    };

    std::optional<Master> current() const;
    // Finds the master again unless `failed` (the pool that just failed, or
    // null) has been replaced meanwhile. True when there is a master other
    // than `failed` to try.
    bool resolve(const std::shared_ptr<RedisPool>& failed, Deadline deadline, std::string& error);
    std::optional<RedisAddress> ask_sentinels(Deadline deadline, std::string& error);

    const RedisTopology topology_;
    const std::chrono::milliseconds timeout_;
    const std::size_t pool_size_;
    std::vector<std::unique_ptr<RedisPool>> sentinels_;  // one connection each, in URL order

    mutable std::mutex mutex_;
    std::optional<Master> master_;

    std::timed_mutex resolving_;  // one resolution at a time; guards the fields below
    std::chrono::steady_clock::time_point next_resolution_{};
    std::string last_resolution_error_;
    std::size_t preferred_sentinel_ = 0;  // the one that answered last
};

}  // namespace quotamilter::store
