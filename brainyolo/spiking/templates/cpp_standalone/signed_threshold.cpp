{# brainyolo's signed thresholder: both events of a signed neuron in one pass over the neurons. #}
{# The neurons are cut into one contiguous chunk per OpenMP thread (one chunk without OpenMP). #}
{# Within a chunk, both conditions of 64 neurons at a time are stored as 0/1 bytes (a loop the #}
{# compiler vectorises) and packed into two 64-bit masks, whose set bits are written out in    #}
{# ascending order. Each chunk writes its events in place at the chunk's start; the blocks are #}
{# then moved together in chunk order: exactly the event lists of Brian2's serial thresholder. #}
{# USES_VARIABLES { N } #}
{% extends 'common_group.cpp' %}
{% block maincode %}
    //// MAIN CODE ////////////
    // scalar code
    const int _vectorisation_idx = -1;
    {{scalar_code|autoindent}}

    {% set _positive = get_array_name(eventspace_variable) %}
    {% set _negative = get_array_name(negative_eventspace_variable) %}
    const int _n_chunks = {{ openmp_pragma('get_num_threads') }} < 256 ? {{ openmp_pragma('get_num_threads') }} : 256;
    long _positive_counts[256], _negative_counts[256];
    {{ openmp_pragma('parallel-static') }}
    for (int _chunk = 0; _chunk < _n_chunks; _chunk++)
    {
        const size_t _begin = (size_t)(((int64_t)N * _chunk) / _n_chunks);
        const size_t _end = (size_t)(((int64_t)N * (_chunk + 1)) / _n_chunks);
        long _n_positive = 0, _n_negative = 0;
        size_t _base = _begin;
        for (; _base + 64 <= _end; _base += 64)
        {
            unsigned char _positive_flags[64], _negative_flags[64];
            for (int _bit = 0; _bit < 64; _bit++)
            {
                const size_t _idx = _base + _bit;
                const size_t _vectorisation_idx = _idx;
                {{vector_code|autoindent}}
                _positive_flags[_bit] = (_cond != 0);
                _negative_flags[_bit] = (_negative_cond != 0);
            }
            uint64_t _positive_mask = _brainyolo_pack_flags(_positive_flags);
            uint64_t _negative_mask = _brainyolo_pack_flags(_negative_flags);
            for (; _positive_mask; _positive_mask &= _positive_mask - 1)
                {{_positive}}[_begin + _n_positive++] = (int32_t)(_base + _brainyolo_lowest_bit(_positive_mask));
            for (; _negative_mask; _negative_mask &= _negative_mask - 1)
                {{_negative}}[_begin + _n_negative++] = (int32_t)(_base + _brainyolo_lowest_bit(_negative_mask));
        }
        for (; _base < _end; _base++)
        {
            const size_t _idx = _base;
            const size_t _vectorisation_idx = _idx;
            {{vector_code|autoindent}}
            // branch-free: the slot lies in this chunk, at or before _idx; kept only if the event happened
            {{_positive}}[_begin + _n_positive] = (int32_t)_idx;
            _n_positive += (_cond != 0);
            {{_negative}}[_begin + _n_negative] = (int32_t)_idx;
            _n_negative += (_negative_cond != 0);
        }
        _positive_counts[_chunk] = _n_positive;
        _negative_counts[_chunk] = _n_negative;
    }
    long _positive_total = 0, _negative_total = 0;
    for (int _chunk = 0; _chunk < _n_chunks; _chunk++)
    {
        const size_t _begin = (size_t)(((int64_t)N * _chunk) / _n_chunks);
        if (_positive_counts[_chunk] > 0 && _begin != (size_t)_positive_total)
            memmove(&{{_positive}}[_positive_total], &{{_positive}}[_begin], _positive_counts[_chunk] * sizeof({{_positive}}[0]));
        if (_negative_counts[_chunk] > 0 && _begin != (size_t)_negative_total)
            memmove(&{{_negative}}[_negative_total], &{{_negative}}[_begin], _negative_counts[_chunk] * sizeof({{_negative}}[0]));
        _positive_total += _positive_counts[_chunk];
        _negative_total += _negative_counts[_chunk];
    }
    {{_positive}}[N] = _positive_total;
    {{_negative}}[N] = _negative_total;
{% endblock %}

{% block extra_headers %}
#include <cstring>
#include <cstdint>
#ifndef BRAINYOLO_LOWEST_BIT
#define BRAINYOLO_LOWEST_BIT
#if defined(__GNUC__) || defined(__clang__)
static inline int _brainyolo_lowest_bit(uint64_t _mask) { return __builtin_ctzll(_mask); }
#else
static inline int _brainyolo_lowest_bit(uint64_t _mask) { int _bit = 0; while (!(_mask & 1)) { _mask >>= 1; _bit++; } return _bit; }
#endif
// 64 bytes of 0/1 -> 64-bit mask (byte i -> bit i): each multiply gathers 8 bytes into the top
// byte without carries (the partial products land on distinct bits)
static inline uint64_t _brainyolo_pack_flags(const unsigned char * _flags)
{
    uint64_t _mask = 0;
    for (int _word = 0; _word < 8; _word++)
    {
        uint64_t _bytes;
        memcpy(&_bytes, _flags + 8 * _word, 8);
        _mask |= ((_bytes * 0x0102040810204080ULL) >> 56) << (8 * _word);
    }
    return _mask;
}
#endif
{% endblock %}

{% block after_code %}
{{get_array_name(eventspace_variable)}}[N] = 0;  // Note that this is not an off-by-1-error: the array has N+1 elements
{{get_array_name(negative_eventspace_variable)}}[N] = 0;
{% endblock %}
