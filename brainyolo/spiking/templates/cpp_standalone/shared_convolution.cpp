{# Weight-shared, event-driven convolution: source spikes -> target v.        #}
{# Neurons are position-major, channel-minor; _kernel is [c][dy][dx][f].      #}
{# USES_VARIABLES { _spikespace, _target_v, _kernel, synaptic_events,
                    _C, _H, _W, _F, _OH, _OW, _K, _S, _P } #}
{% extends 'common_group.cpp' %}

{% block maincode %}
    {% set spaces = [(_spikespace, '1')] %}
    {% if signed %}
    {% set spaces = spaces + [(_negative_spikespace, '-1')] %}
    {% endif %}
    int64_t _events_this_step = 0;
    {{ openmp_pragma('parallel') }}
    {
        const int _n_threads = {{ openmp_pragma('get_num_threads') }};
        const int _thread = {{ openmp_pragma('get_thread_num') }};
        // Each thread owns a contiguous range of output channels: no write conflicts.
        const int _f_begin = (int)(((int64_t)_F * _thread) / _n_threads);
        const int _f_end = (int)(((int64_t)_F * (_thread + 1)) / _n_threads);
        int64_t _my_events = 0;
        {% for space, sign in spaces %}
        {
            const int32_t _n_spikes = {{space}}[_num_spikespace - 1];
            for (int32_t _s = 0; _s < _n_spikes; _s++)
            {
                const int32_t _pre = {{space}}[_s];
                const int _c = _pre % _C;
                const int _position = _pre / _C;
                const int _y = _position / _W;
                const int _x = _position % _W;
                for (int _dy = 0; _dy < _K; _dy++)
                {
                    const int _ty = _y + _P - _dy;
                    if (_ty < 0 || _ty % _S != 0) continue;
                    const int _oy = _ty / _S;
                    if (_oy >= _OH) continue;
                    for (int _dx = 0; _dx < _K; _dx++)
                    {
                        const int _tx = _x + _P - _dx;
                        if (_tx < 0 || _tx % _S != 0) continue;
                        const int _ox = _tx / _S;
                        if (_ox >= _OW) continue;
                        {{c_data_type(variables['_target_v'].dtype)}} * __restrict _post =
                            {{_target_v}} + ((int64_t)_oy * _OW + _ox) * _F;
                        const {{c_data_type(variables['_kernel'].dtype)}} * __restrict _w =
                            {{_kernel}} + (((int64_t)_c * _K + _dy) * _K + _dx) * _F;
                        for (int _f = _f_begin; _f < _f_end; _f++)
                            _post[_f] {{ '+=' if sign == '1' else '-=' }} _w[_f];
                        _my_events += _f_end - _f_begin;
                    }
                }
            }
        }
        {% endfor %}
        {% if openmp_pragma('with_openmp') %}
        #pragma omp atomic
        {% endif %}
        _events_this_step += _my_events;
    }
    {{synaptic_events}}[0] += _events_this_step;
{% endblock %}
