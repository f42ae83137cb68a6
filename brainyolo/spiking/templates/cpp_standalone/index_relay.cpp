{# Index-mapped spike relay (route, upsample): each event adds its units to the v of its source neuron's targets (+1 a #}
{# spike, -1 a negative spike; a burst's event k times, a finer negative grid n per spike: event_spaces). A target has one source. #}
{# USES_VARIABLES { _spikespace, _target_v, _offsets, _targets } #}
{% extends 'common_group.cpp' %}

{% block maincode %}
    {% set v_type = c_data_type(variables['_target_v'].dtype) %}
    {% for name, sign, spikes, units, cost in event_spaces %}
    {
        const int32_t * __restrict _spikes = {{ get_array_name(variables[name]) }};
        const int32_t _n_spikes = _spikes[_num_spikespace - 1];
        {% if openmp_pragma('with_openmp') %}
        #pragma omp parallel for schedule(static) if (_n_spikes > 4096)
        {% endif %}
        for (int32_t _s = 0; _s < _n_spikes; _s++)
        {
            const int32_t _pre = _spikes[_s];
            for (int32_t _j = {{_offsets}}[_pre]; _j < {{_offsets}}[_pre + 1]; _j++)
                {{_target_v}}[{{_targets}}[_j]] {{ sign }}= ({{v_type}}){{ units }};
        }
    }
    {% endfor %}
{% endblock %}
