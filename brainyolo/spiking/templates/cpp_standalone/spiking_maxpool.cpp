{# Spiking max-pool: count the source's net spikes, write window maxima into the target's m. #}
{# USES_VARIABLES { _spikespace, _target_m, input_count, _C, _H, _W, _OH, _OW, _K, _S, _OFF } #}
{% extends 'common_group.cpp' %}

{% block maincode %}
    // 1. net spike counts of the inputs
    {% for name, sign in event_spaces %}
    {% set space = get_array_name(variables[name]) %}
    for (int32_t _s = 0; _s < {{space}}[_num_spikespace - 1]; _s++)
        {{input_count}}[{{space}}[_s]] {{ sign }}= 1;
    {% endfor %}
    // 2. Negative spikes: a window's maximum can only fall if the input that spiked held it:
    //    rescan those windows (with every count of this step already applied).
    // 3. Positive spikes: the maximum can only rise, to the input's new count: O(1).
    {% for name, sign in event_spaces | reverse %}
    {% set space = get_array_name(variables[name]) %}
    for (int32_t _s = 0; _s < {{space}}[_num_spikespace - 1]; _s++)
    {
        const int32_t _pre = {{space}}[_s];
        const int32_t _count = {{input_count}}[_pre];
        const int _c = _pre % _C;
        const int _y = (_pre / _C) / _W;
        const int _x = (_pre / _C) % _W;
        // outputs o with o*S - OFF <= y <= o*S - OFF + K - 1
        int _oy0 = (_y + _OFF - _K + 1 + _S - 1);
        _oy0 = _oy0 >= 0 ? _oy0 / _S : 0;
        int _ox0 = (_x + _OFF - _K + 1 + _S - 1);
        _ox0 = _ox0 >= 0 ? _ox0 / _S : 0;
        const int _oy1 = (_y + _OFF) / _S < _OH - 1 ? (_y + _OFF) / _S : _OH - 1;
        const int _ox1 = (_x + _OFF) / _S < _OW - 1 ? (_x + _OFF) / _S : _OW - 1;
        for (int _oy = _oy0; _oy <= _oy1; _oy++)
            for (int _ox = _ox0; _ox <= _ox1; _ox++)
            {
                {{c_data_type(variables['_target_m'].dtype)}} &_m = {{_target_m}}[((int64_t)_oy * _OW + _ox) * _C + _c];
                {% if sign == '+' %}
                if (_count > _m) _m = _count;
                {% else %}
                if (_count + 1 < _m) continue;  // this input did not hold the maximum
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
                        if (_n > _best) _best = _n;
                    }
                }
                _m = _best;
                {% endif %}
            }
    }
    {% endfor %}
{% endblock %}
