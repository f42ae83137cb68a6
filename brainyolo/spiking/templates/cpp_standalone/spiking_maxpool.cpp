{# Spiking max-pool: count the source's net spikes, write window maxima into the target's m. #}
{# With OpenMP and windows that do not overlap (size <= stride), threads take bands of input  #}
{# rows cut where a new row of windows starts, so no two threads write the same pool neuron or #}
{# input count.                                                                                #}
{# USES_VARIABLES { _spikespace, _target_m, input_count, _C, _H, _W, _OH, _OW, _K, _S, _OFF } #}
{% extends 'common_group.cpp' %}

{% block maincode %}
    {% set m_type = c_data_type(variables['_target_m'].dtype) %}
    // Per band of input rows (all rows without OpenMP, or when windows overlap):
    // 1. net counts of the band's inputs in units (+u per positive event space of u units a neuron is in,
    //    -u per negative one: a burst's binary-weighted events are event spaces of their own);
    // 2. negative spikes: a window's maximum can only fall if the input that spiked held it:
    //    rescan those windows (with every count of this step already applied: a band holds every
    //    input of its windows);
    // 3. positive spikes: the maximum can only rise, to the input's new count: O(1).
    // The channel of input neuron _pre and the pool outputs o holding it: o*S - OFF <= y <= o*S - OFF + K - 1.
    auto _windows = [&](int32_t _pre, int &_c, int &_oy0, int &_oy1, int &_ox0, int &_ox1)
    {
        _c = _pre % _C;
        const int _y = (_pre / _C) / _W;
        const int _x = (_pre / _C) % _W;
        _oy0 = _y + _OFF - _K + _S;
        _oy0 = _oy0 >= 0 ? _oy0 / _S : 0;
        _ox0 = _x + _OFF - _K + _S;
        _ox0 = _ox0 >= 0 ? _ox0 / _S : 0;
        _oy1 = (_y + _OFF) / _S < _OH - 1 ? (_y + _OFF) / _S : _OH - 1;
        _ox1 = (_x + _OFF) / _S < _OW - 1 ? (_x + _OFF) / _S : _OW - 1;
    };
    // Spikes [_first, _last) of one event space (sorted by neuron index).
    auto _negative = [&](const int32_t * __restrict _spikes, int32_t _first, int32_t _last)
    {
        for (int32_t _s = _first; _s < _last; _s++)
        {
            const int32_t _pre = _spikes[_s];
            const int32_t _count = {{input_count}}[_pre];
            int _c, _oy0, _oy1, _ox0, _ox1;
            _windows(_pre, _c, _oy0, _oy1, _ox0, _ox1);
            for (int _oy = _oy0; _oy <= _oy1; _oy++)
                for (int _ox = _ox0; _ox <= _ox1; _ox++)
                {
                    {{m_type}} &_m = {{_target_m}}[((int64_t)_oy * _OW + _ox) * _C + _c];
                    if (_count + {{ levels }} < _m) continue;  // this input did not hold the maximum
                    int32_t _best = INT_MIN;
                    for (int _dy = 0; _dy < _K; _dy++)
                    {
                        const int _iy = _oy * _S - _OFF + _dy;
                        if (_iy < 0 || _iy >= _H) continue;
                        for (int _dx = 0; _dx < _K; _dx++)
                        {
                            const int _ix = _ox * _S - _OFF + _dx;
                            if (_ix < 0 || _ix >= _W) continue;
                            const int32_t _n = {{input_count}}[((int64_t)_iy * _W + _ix) * _C + _c];
                            _best = _n > _best ? _n : _best;
                        }
                    }
                    _m = _best;
                }
        }
    };
    auto _positive = [&](const int32_t * __restrict _spikes, int32_t _first, int32_t _last)
    {
        for (int32_t _s = _first; _s < _last; _s++)
        {
            const int32_t _pre = _spikes[_s];
            const {{m_type}} _count = {{input_count}}[_pre];
            int _c, _oy0, _oy1, _ox0, _ox1;
            _windows(_pre, _c, _oy0, _oy1, _ox0, _ox1);
            for (int _oy = _oy0; _oy <= _oy1; _oy++)
                for (int _ox = _ox0; _ox <= _ox1; _ox++)
                {
                    {{m_type}} &_m = {{_target_m}}[((int64_t)_oy * _OW + _ox) * _C + _c];
                    _m = _count > _m ? _count : _m;
                }
        }
    };
    {% set _up_spaces = [] %}{% set _down_spaces = [] %}
    {% set _weights = {} %}
    {% for name, sign, spikes, units, cost in event_spaces %}{% set _ = (_up_spaces if sign == '+' else _down_spaces).append(get_array_name(variables[name])) %}{% set _ = _weights.update({get_array_name(variables[name]): units}) %}{% endfor %}
    // First spike whose input row is >= row, in a sorted spike list.
    auto _first_in_row = [&](const int32_t * __restrict _spikes, int32_t _n, int _row) -> int32_t
    {
        int32_t _lo = 0, _hi = _n;
        while (_lo < _hi)
        {
            const int32_t _mid = _lo + (_hi - _lo) / 2;
            if ((_spikes[_mid] / _C) / _W < _row) _lo = _mid + 1; else _hi = _mid;
        }
        return _lo;
    };
    const int _n_bands = (_K <= _S) ? ({{ openmp_pragma('get_num_threads') }} < 64 ? {{ openmp_pragma('get_num_threads') }} : 64) : 1;
    int _band_row[65];
    for (int _b = 0; _b <= _n_bands; _b++)
    {
        // a row where a new row of windows starts: (row + OFF) % S == 0
        const int _o = (int)(((int64_t)_OH * _b) / _n_bands);
        _band_row[_b] = _b == _n_bands ? _H : (_o * _S - _OFF > 0 ? _o * _S - _OFF : 0);
    }
    {% if openmp_pragma('with_openmp') %}
    #pragma omp parallel for schedule(static)
    {% endif %}
    for (int _b = 0; _b < _n_bands; _b++)
    {
        {% for spaces, step in [(_up_spaces, '+'), (_down_spaces, '-')] %}{% for space in spaces %}
        const int32_t _first{{ step == '+' and 'p' or 'n' }}{{ loop.index0 }} = _first_in_row({{space}}, {{space}}[_num_spikespace - 1], _band_row[_b]);
        const int32_t _last{{ step == '+' and 'p' or 'n' }}{{ loop.index0 }} = _first_in_row({{space}}, {{space}}[_num_spikespace - 1], _band_row[_b + 1]);
        for (int32_t _s = _first{{ step == '+' and 'p' or 'n' }}{{ loop.index0 }}; _s < _last{{ step == '+' and 'p' or 'n' }}{{ loop.index0 }}; _s++)
            {{input_count}}[{{space}}[_s]] {{ step }}= {{ _weights[space] }};
        {% endfor %}{% endfor %}
        {% for space in _down_spaces %}
        _negative({{space}}, _firstn{{ loop.index0 }}, _lastn{{ loop.index0 }});
        {% endfor %}
        {% for space in _up_spaces %}
        _positive({{space}}, _firstp{{ loop.index0 }}, _lastp{{ loop.index0 }});
        {% endfor %}
    }
{% endblock %}

{% block extra_headers %}
#include <climits>
{% endblock %}
