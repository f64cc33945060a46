#include "store/sentinel_link.h"

#include <algorithm>

namespace quotamilter::store {
namespace {

using Clock = std::chrono::steady_clock;

std::string address_text(const RedisAddress& a) { return a.host + ":" + std::to_string(a.port); }

// A demoted master (now a replica) refuses writes with READONLY; scripts
// report it inside their error text.
bool is_demoted_reply(const redisReply* r) {
    if (r->type != REDIS_REPLY_ERROR) return false;
    const std::string_view text(r->str, r->len);
    return text.starts_with("READONLY") || text.find("READONLY You can't write") != std::string_view::npos ||
           text.starts_with("MASTERDOWN");
}

}  // namespace

SentinelLink::SentinelLink(RedisTopology topology, std::chrono::milliseconds timeout,
                           std::size_t pool_size)
    : topology_(std::move(topology)), timeout_(timeout), pool_size_(pool_size) {
    for (const auto& address : topology_.seeds) {
        // Sentinels are asked without the data nodes' credentials or db.
        RedisEndpoint sentinel;
        sentinel.host = address.host;
        sentinel.port = address.port;
        sentinels_.push_back(std::make_unique<RedisPool>(sentinel, timeout_, 1));
    }
}

std::optional<SentinelLink::Master> SentinelLink::current() const {
    std::lock_guard lock(mutex_);
    return master_;
}

std::optional<RedisAddress> SentinelLink::ask_sentinels(Deadline deadline, std::string& error) {
    const std::vector<RedisCommand> query{
        {"SENTINEL", "get-master-addr-by-name", topology_.master_name}};
    // A hung Sentinel may take only part of the time: the next one gets the rest.
    const auto share = std::max(timeout_ / 2, std::chrono::milliseconds(50));
    std::string errors;
    for (std::size_t n = 0; n < sentinels_.size() && Clock::now() < deadline; ++n) {
        const std::size_t i = (preferred_sentinel_ + n) % sentinels_.size();
        std::vector<ReplyPtr> replies;
        std::string why;
        const Deadline until = std::min(deadline, Clock::now() + share);
        if (sentinels_[i]->run(query, replies, until, why)) {
            const redisReply* r = replies[0].get();
            if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING) {
                try {
                    const int port = std::stoi(reply_text(r->element[1]));
                    preferred_sentinel_ = i;
                    return RedisAddress{reply_text(r->element[0]), port};
                } catch (const std::exception&) {
                    why = "bad port in the Sentinel's reply";
                }
            } else if (r->type == REDIS_REPLY_NIL) {
                why = "does not know master '" + topology_.master_name + "'";
            } else {
                why = r->type == REDIS_REPLY_ERROR ? reply_text(r) : "unexpected reply";
            }
        }
        errors += (errors.empty() ? "" : "; ") + address_text(topology_.seeds[i]) + ": " + why;
    }
    error = "Redis Sentinel: no master '" + topology_.master_name + "' (" +
            (errors.empty() ? std::string("timed out") : errors) + ")";
    return std::nullopt;
}

bool SentinelLink::resolve(const std::shared_ptr<RedisPool>& failed, Deadline deadline,
                           std::string& error) {
    std::unique_lock resolving(resolving_, std::defer_lock);
    if (!resolving.try_lock_until(deadline)) {
        error = "Redis Sentinel: timed out waiting for another thread's master lookup";
        return false;
    }
    {
        std::lock_guard lock(mutex_);
        if (master_ && master_->pool != failed) return true;  // another thread found it
    }
    if (Clock::now() < next_resolution_) {
        error = last_resolution_error_;
        return false;
    }
    next_resolution_ = Clock::now() + min_resolve_interval;

    const auto address = ask_sentinels(deadline, error);
    if (!address) {
        last_resolution_error_ = error;
        return false;
    }
    const auto known = current();
    std::shared_ptr<RedisPool> pool =
        known && known->address == *address && known->pool != failed
            ? known->pool
            : std::make_shared<RedisPool>(at_address(topology_.endpoint, *address), timeout_,
                                          pool_size_);
    // Sentinels may still name the old master during a failover: believe
    // only a server that says it is one.
    const std::vector<RedisCommand> role{{"ROLE"}};
    std::vector<ReplyPtr> replies;
    std::string why;
    if (!pool->run(role, replies, deadline, why)) {
        error = "Redis Sentinel: master " + address_text(*address) + " unreachable: " + why;
    } else if (replies[0]->type == REDIS_REPLY_ERROR) {
        // NOAUTH (no or a wrong password in the URL) and the like: say so.
        error = "Redis Sentinel: master " + address_text(*address) + " answered ROLE with " +
                reply_text(replies[0].get());
    } else if (const redisReply* r = replies[0].get();
               r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
               r->element[0]->type != REDIS_REPLY_STRING || reply_text(r->element[0]) != "master") {
        error = "Redis Sentinel: " + address_text(*address) + " named as master '" +
                topology_.master_name + "' is not a master (yet)";
    } else {
        std::lock_guard lock(mutex_);
        master_ = Master{*address, pool};
        return pool != failed;
    }
    last_resolution_error_ = error;
    return false;
}

bool SentinelLink::run(std::span<const RedisCommand> commands, std::vector<ReplyPtr>& replies,
                       Deadline deadline, std::string& error) {
    // At most two tries: the current master, then the one found after it failed.
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto master = current();
        if (!master) {
            if (!resolve(nullptr, deadline, error)) return false;
            master = current();
            if (!master) return false;
        }
        if (master->pool->run(commands, replies, deadline, error)) {
            const bool demoted = std::any_of(replies.begin(), replies.end(),
                                             [](const ReplyPtr& r) { return is_demoted_reply(r.get()); });
            if (!demoted) return true;
            error = "Redis master " + address_text(master->address) +
                    " refuses writes (demoted by a failover?)";
        }
        std::string why;
        if (!resolve(master->pool, deadline, why)) {
            if (!why.empty() && why != error) error += "; " + why;
            return false;
        }
    }
    return false;
}

}  // namespace quotamilter::store
