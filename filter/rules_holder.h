// The rule set in force. Reload swaps the pointer atomically; a message keeps
// the snapshot it took at MAIL FROM (the shared_ptr keeps it alive), so a
// reload never changes the rules under a message in flight.
#pragma once

#include "rules/rule_set.h"

#include <atomic>
#include <memory>

namespace quotamilter::filter {

class RulesHolder {
public:
    explicit RulesHolder(std::shared_ptr<const rules::RuleSet> initial) : current_(std::move(initial)) {}

    std::shared_ptr<const rules::RuleSet> current() const { return current_.load(std::memory_order_acquire); }
    void replace(std::shared_ptr<const rules::RuleSet> next) { current_.store(std::move(next), std::memory_order_release); }

private:
    std::atomic<std::shared_ptr<const rules::RuleSet>> current_;
};

}  // namespace quotamilter::filter
