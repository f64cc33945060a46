#include "filter/header_collector.h"

#include "rules/header_text.h"

#include <algorithm>

namespace quotamilter::filter {

namespace {

bool iequals(std::string_view a, std::string_view lower_b) {
    if (a.size() != lower_b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != lower_b[i]) return false;
    }
    return true;
}

}  // namespace

void HeaderCollector::add(std::string_view name, std::string_view raw_value) {
    auto wanted = std::find_if(wanted_.begin(), wanted_.end(), [&](const std::string& w) { return iequals(name, w); });
    if (wanted == wanted_.end()) return;  // no rule looks at it: not even decoded
    const bool name_seen = std::any_of(headers_.begin(), headers_.end(),
                                       [&](const rules::HeaderField& h) { return h.name == *wanted; });
    const std::size_t budget = kMaxKeptHeaderBytes - kept_bytes_;
    if (headers_.size() >= kMaxKeptHeaders || budget == 0) {
        truncated_ = true;
        // Keep presence (for "absent") at no cost: one empty entry per name.
        if (!name_seen) headers_.push_back({*wanted, std::string()});
        return;
    }
    std::string value = rules::decode_header_value(raw_value, std::min(budget, rules::kMaxHeaderValueBytes));
    if (value.size() == std::min(budget, rules::kMaxHeaderValueBytes) && raw_value.size() > value.size())
        truncated_ = true;
    kept_bytes_ += value.size();
    headers_.push_back({*wanted, std::move(value)});
}

}  // namespace quotamilter::filter
