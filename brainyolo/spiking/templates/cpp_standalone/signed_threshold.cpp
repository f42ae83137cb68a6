{# brainyolo's signed thresholder: every event of a signed neuron in one pass over the neurons. #}
{# The neurons are cut into one contiguous chunk per OpenMP thread (one chunk without OpenMP). #}
{# Within a chunk, the conditions of 64 neurons at a time are stored as 0/1 bytes (a loop the #}
{# compiler vectorises) and packed into one 64-bit mask each, whose set bits are written out in #}
{# ascending order. Each chunk writes its events in place at the chunk's start; the blocks are #}
{# then moved together in chunk order: exactly the event lists of Brian2's serial thresholder. #}
{# resets[k] names the event space whose neurons get code block reset_k (fuse_resets): applied to #}
{# a block's neurons after all of its conditions, block k after block k - 1, as Brian2's       #}
{# resetters would, one after the other, after the thresholder.                                #}
{# gated: the events share a gate (code block gate, thresholder.common_gate), tested once; while   #}
{# it is false, the pass runs the state update alone (code block update) and no event happens.   #}
{# USES_VARIABLES { N } #}
{% extends 'common_group.cpp' %}
{% block maincode %}
    //// MAIN CODE ////////////
    {% set _spaces = [] %}
    {% for space in eventspace_variables %}{% set _ = _spaces.append(get_array_name(space)) %}{% endfor %}
    {% if gated %}
    bool _gate_open;
    {
        const int _vectorisation_idx = -1;
        {{scalar_code['gate']|autoindent}}
        _gate_open = _gate;
    }
    if (!_gate_open)
    {
        // no event this step: the state update alone
        {% if state_update %}
        const int _vectorisation_idx = -1;
        {{scalar_code['update']|autoindent}}
        {{ openmp_pragma('parallel-static') }}
        for (int _idx = 0; _idx < N; _idx++)
        {
            const size_t _vectorisation_idx = _idx;
            {{vector_code['update']|autoindent}}
        }
        {% endif %}
        {% for space in _spaces %}
        {{space}}[N] = 0;
        {% endfor %}
    }
    else
    {% endif %}
    {
    // scalar code
    const int _vectorisation_idx = -1;
    {{scalar_code['condition']|autoindent}}
    {% for space_index in resets %}
    // the reset of event space {{ space_index }}, run on one neuron
    auto _reset_{{ loop.index0 }} = [&]()
    {
        {{scalar_code['reset_%d' % loop.index0]|autoindent}}
        return [=](const size_t _idx)
        {
            const size_t _vectorisation_idx = _idx;
            {{vector_code['reset_%d' % loop.index0]|autoindent}}
        };
    }();
    {% endfor %}

    const int _n_chunks = {{ openmp_pragma('get_num_threads') }} < 256 ? {{ openmp_pragma('get_num_threads') }} : 256;
    long _counts[{{ _spaces | length }}][256];
    {{ openmp_pragma('parallel-static') }}
    for (int _chunk = 0; _chunk < _n_chunks; _chunk++)
    {
        const size_t _begin = (size_t)(((int64_t)N * _chunk) / _n_chunks);
        const size_t _end = (size_t)(((int64_t)N * (_chunk + 1)) / _n_chunks);
        long _n[{{ _spaces | length }}] = {0};
        size_t _base = _begin;
        for (; _base + 64 <= _end; _base += 64)
        {
            unsigned char _flags[{{ _spaces | length }}][64];
            for (int _bit = 0; _bit < 64; _bit++)
            {
                const size_t _idx = _base + _bit;
                const size_t _vectorisation_idx = _idx;
                {{vector_code['condition']|autoindent}}
                {% for space in _spaces %}
                _flags[{{ loop.index0 }}][_bit] = (_cond_{{ loop.index0 }} != 0);
                {% endfor %}
            }
            uint64_t _masks[{{ _spaces | length }}];
            {% for space in _spaces %}
            _masks[{{ loop.index0 }}] = _brainyolo_pack_flags(_flags[{{ loop.index0 }}]);
            for (uint64_t _mask = _masks[{{ loop.index0 }}]; _mask; _mask &= _mask - 1)
                {{space}}[_begin + _n[{{ loop.index0 }}]++] = (int32_t)(_base + _brainyolo_lowest_bit(_mask));
            {% endfor %}
            {% for space_index in resets %}
            for (uint64_t _mask = _masks[{{ space_index }}]; _mask; _mask &= _mask - 1)
                _reset_{{ loop.index0 }}(_base + _brainyolo_lowest_bit(_mask));
            {% endfor %}
        }
        for (; _base < _end; _base++)
        {
            const size_t _idx = _base;
            const size_t _vectorisation_idx = _idx;
            {{vector_code['condition']|autoindent}}
            // branch-free: the slot lies in this chunk, at or before _idx; kept only if the event happened
            {% for space in _spaces %}
            {{space}}[_begin + _n[{{ loop.index0 }}]] = (int32_t)_idx;
            _n[{{ loop.index0 }}] += (_cond_{{ loop.index0 }} != 0);
            {% endfor %}
            {% for space_index in resets %}
            if (_cond_{{ space_index }})
                _reset_{{ loop.index0 }}(_idx);
            {% endfor %}
        }
        for (int _e = 0; _e < {{ _spaces | length }}; _e++)
            _counts[_e][_chunk] = _n[_e];
    }
    {% for space in _spaces %}
    {
        long _total = 0;
        for (int _chunk = 0; _chunk < _n_chunks; _chunk++)
        {
            const size_t _begin = (size_t)(((int64_t)N * _chunk) / _n_chunks);
            const long _count = _counts[{{ loop.index0 }}][_chunk];
            if (_count > 0 && _begin != (size_t)_total)
                memmove(&{{space}}[_total], &{{space}}[_begin], _count * sizeof({{space}}[0]));
            _total += _count;
        }
        {{space}}[N] = _total;
    }
    {% endfor %}
    }
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
{% for space in eventspace_variables %}
{{get_array_name(space)}}[N] = 0;  // Note that this is not an off-by-1-error: the array has N+1 elements
{% endfor %}
{% endblock %}
