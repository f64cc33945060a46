// Test doubles for the filter core: a QuotaStore whose answers a test can
// script (refusals, store errors) and that records every call, and a logger
// that keeps its lines.
#pragma once

#include "filter/log.h"
#include "store/quota_store.h"

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace quotamilter::test {

// Counts without time (no window ever expires): enough to see what the core
// checks and charges. fail = true turns every call into a store error.
class ScriptedStore final : public store::QuotaStore {
public:
    struct Call {
        std::string kind;  // "check" | "charge"
        std::vector<store::CounterRequest> requests;
    };

    bool fail = false;
    // Every counter is at its limit: every request with a cost refuses.
    bool full = false;
    // Refusals name a request index past the end (an impossible answer).
    bool impossible_index = false;
    std::vector<Call> calls;

    std::uint64_t count(const std::string& policy, const std::string& unit, const std::string& value) const {
        auto it = counts_.find(policy + "|" + unit + "|" + value);
        return it == counts_.end() ? 0 : it->second;
    }
    std::size_t calls_of(const std::string& kind) const {
        std::size_t n = 0;
        for (const auto& call : calls) n += call.kind == kind;
        return n;
    }

    store::Decision check(std::span<const store::CounterRequest> requests) override {
        calls.push_back({"check", {requests.begin(), requests.end()}});
        return decide(requests, false);
    }
    store::Decision charge(std::span<const store::CounterRequest> requests) override {
        calls.push_back({"charge", {requests.begin(), requests.end()}});
        return decide(requests, true);
    }

private:
    static std::string key(const store::CounterId& id) { return id.policy + "|" + id.unit + "|" + id.tracked_value; }

    store::Decision decide(std::span<const store::CounterRequest> requests, bool apply) {
        store::Decision decision;
        if (fail) {
            decision.outcome = store::Outcome::store_error;
            decision.error = "scripted outage";
            return decision;
        }
        for (std::size_t i = 0; i < requests.size(); ++i) {
            std::uint64_t now = full ? requests[i].limit : counts_[key(requests[i].counter)];
            if (now + requests[i].cost > requests[i].limit) {
                decision.outcome = store::Outcome::refused;
                decision.refused_index = impossible_index ? requests.size() : i;
                decision.count = now;
                decision.limit = requests[i].limit;
                if (requests[i].cost <= requests[i].limit) decision.retry_after = std::chrono::milliseconds(252000);
                return decision;
            }
        }
        if (apply)
            for (const auto& request : requests) counts_[key(request.counter)] += request.cost;
        decision.outcome = store::Outcome::admitted;
        return decision;
    }

    std::map<std::string, std::uint64_t> counts_;
};

class CapturingLogger final : public filter::Logger {
public:
    CapturingLogger() : Logger(filter::LogLevel::debug) {}

    std::vector<std::string> lines() const {
        std::lock_guard lock(mutex_);
        return lines_;
    }
    std::size_t count_containing(const std::string& needle) const {
        std::lock_guard lock(mutex_);
        std::size_t n = 0;
        for (const auto& line : lines_) n += line.find(needle) != std::string::npos;
        return n;
    }

protected:
    void write(filter::LogLevel level, std::string_view line) override {
        std::lock_guard lock(mutex_);
        lines_.push_back(std::string(filter::to_string(level)) + ": " + std::string(line));
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::string> lines_;
};

}  // namespace quotamilter::test
